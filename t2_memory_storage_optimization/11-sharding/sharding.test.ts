/**
 * Checkpoint for 11-sharding (the shard-equality test). `npm run checkpoint -- 11-sharding` runs it against
 * exercise.ts; plain `npx vitest run` checks before.ts and after.ts. The reference is before.ts: one Bm25Index and one
 * FlatIndex over the whole collection. A sharded search must return exactly its hits (labels and scores), split the
 * chunks evenly, and search its shards at the same time: what the shard threads are asked is counted (spies on
 * ShardWorker), never timed.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ShardWorker, type ShardData, type ShardQuery } from '../../shared/index/sharded.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Corpus, Query, Results, Searcher, SearchOptions } from './after.ts';
import * as reference from './before.ts';
import { loadWorkload, type Workload } from './corpus.ts';

interface Mod {
  openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher>;
}

const K = 10;
const CHUNKS = 2_000;
const QUERIES = 40;
/** Shard counts checked: an even split and an uneven one. */
const SHARDS = [2, 3];
/** A hash partition of 2,000 labels is never this lopsided (the expected spread is about ±2%). */
const BALANCE = 1.25;

/** What the shard threads were asked, recorded by spies on ShardWorker. */
interface Calls {
  /** Labels handed to each thread by `load`. */
  loads: number[][];
  /** `k` of every search request. */
  asked: number[];
  /** Most threads with a request outstanding at the moment a request was sent. */
  maxBusy: number;
  /** Threads started, and those closed since. */
  started: ShardWorker[];
  closed: Set<ShardWorker>;
}

const calls: Calls = { loads: [], asked: [], maxBusy: 0, started: [], closed: new Set() };
const outstanding = new Map<ShardWorker, number>();
const takeCalls = (): Calls => {
  const out = { ...calls };
  calls.loads = [];
  calls.asked = [];
  calls.maxBusy = 0;
  calls.started = [];
  calls.closed = new Set();
  return out;
};

const fmt = (hits: readonly ScoredLabel[]) => hits.map((h) => `${h.label}:${h.score.toPrecision(6)}`).join(' ');

let workload: Workload;
let want: Results[];
/** Per query, label → score in the whole collection (BM25 over every matching chunk). */
let wholeScores: Map<number, number>[];

beforeAll(async () => {
  const start = ShardWorker.start.bind(ShardWorker);
  const close = ShardWorker.prototype.close;
  vi.spyOn(ShardWorker, 'start').mockImplementation(async (opts) => {
    const w = await start(opts);
    calls.started.push(w);
    return w;
  });
  vi.spyOn(ShardWorker.prototype, 'close').mockImplementation(function (this: ShardWorker) {
    calls.closed.add(this);
    return close.call(this);
  });
  const load = ShardWorker.prototype.load;
  const search = ShardWorker.prototype.search;
  vi.spyOn(ShardWorker.prototype, 'load').mockImplementation(function (this: ShardWorker, data: ShardData) {
    calls.loads.push(Array.from(data.labels));
    return load.call(this, data);
  });
  vi.spyOn(ShardWorker.prototype, 'search').mockImplementation(function (this: ShardWorker, q: ShardQuery) {
    calls.asked.push(q.k);
    outstanding.set(this, (outstanding.get(this) ?? 0) + 1);
    let busy = 0;
    for (const c of outstanding.values()) if (c > 0) busy++;
    calls.maxBusy = Math.max(calls.maxBusy, busy);
    return search.call(this, q).finally(() => outstanding.set(this, outstanding.get(this)! - 1));
  });
  workload = await loadWorkload({ chunks: CHUNKS, queries: QUERIES });
  const one = await reference.openSearcher(workload.corpus, { shards: 1 });
  want = await Promise.all(workload.queries.map((q) => one.search(q, K)));
  wholeScores = await Promise.all(
    workload.queries.map(async (q) => new Map((await one.search(q, CHUNKS)).text.map((h) => [h.label, h.score]))),
  );
  await one.close();
  takeCalls();
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  /** Per shard count: the results of every query and what the threads were asked. */
  const runs = new Map<number, { results: Results[]; open: Calls; queries: Calls; leftRunning: number; started: number }>();

  beforeAll(async () => {
    for (const shards of SHARDS) {
      takeCalls();
      const searcher = await impl.openSearcher(workload.corpus, { shards });
      const open = takeCalls();
      const results: Results[] = [];
      let queries: Calls;
      try {
        for (const q of workload.queries) results.push(await searcher.search(q, K));
      } finally {
        queries = takeCalls();
        await searcher.close();
      }
      const closed = takeCalls().closed;
      const leftRunning = open.started.filter((w) => !closed.has(w)).length;
      runs.set(shards, { results, open, queries, leftRunning, started: open.started.length });
    }
  });

  it(`returns exactly the hits of one index, text and dense, for ${QUERIES} real queries (${SHARDS.join(' and ')} shards)`, () => {
    for (const [shards, run] of runs) {
      for (let i = 0; i < QUERIES; i++) {
        for (const kind of ['text', 'dense'] as const) {
          const got = run.results[i][kind];
          const exp = want[i][kind];
          expect(
            fmt(got),
            `${shards} shards, query ${i} "${workload.queryTexts[i]}": ${kind} hits [${fmt(got)}], one index gives [${fmt(exp)}]`,
          ).toBe(fmt(exp));
          expect(got).toEqual(exp);
        }
      }
    }
  });

  it('scores every text hit as the whole collection would (BM25 with the collection’s statistics)', () => {
    for (const [shards, run] of runs) {
      for (let i = 0; i < QUERIES; i++) {
        for (const h of run.results[i].text) {
          const whole = wholeScores[i].get(h.label);
          expect(
            h.score,
            `${shards} shards, query ${i}: label ${h.label} scored ${h.score.toPrecision(6)}, the whole collection gives it ` +
              `${whole?.toPrecision(6)}: each shard scored BM25 with its own N, average length and document frequencies; ` +
              'scores from different shards are then on different scales and do not merge',
          ).toBe(whole);
        }
      }
    }
  });

  it('merges by score: hits best first, equal scores to the lower label', () => {
    for (const [shards, run] of runs) {
      for (let i = 0; i < QUERIES; i++) {
        for (const kind of ['text', 'dense'] as const) {
          const hits = run.results[i][kind];
          for (let j = 1; j < hits.length; j++) {
            const [a, b] = [hits[j - 1], hits[j]];
            expect(
              a.score > b.score || (a.score === b.score && a.label < b.label),
              `${shards} shards, query ${i}, ${kind}: hit ${j + 1} (label ${b.label}, score ${b.score.toPrecision(6)}) comes ` +
                `after hit ${j} (label ${a.label}, score ${a.score.toPrecision(6)}): the shards' lists were merged by rank, ` +
                'not by score; the first of one shard can be worse than the second of another',
            ).toBe(true);
          }
        }
      }
    }
  });

  it('gives equal scores at the cut to the lowest labels, as one index does', async () => {
    // 30 copies of one chunk (same text, same vector) among different ones: every copy ties
    const base = workload.corpus;
    const n = 120;
    const texts = Array.from({ length: n }, (_, i) => (i % 4 === 1 ? base.texts[0] : base.texts[i + 1]));
    const matrix = new Float32Array(new SharedArrayBuffer(n * base.dim * 4));
    for (let i = 0; i < n; i++) {
      const from = i % 4 === 1 ? 0 : i + 1;
      matrix.set(base.matrix.subarray(from * base.dim, (from + 1) * base.dim), i * base.dim);
    }
    const corpus: Corpus = { texts, matrix, dim: base.dim };
    const query: Query = { tokens: defaultAnalyzer.analyze(base.texts[0]).slice(0, 6), vector: matrix.slice(base.dim, 2 * base.dim) };
    const one = await reference.openSearcher(corpus, { shards: 1 });
    const sharded = await impl.openSearcher(corpus, { shards: 3 });
    try {
      for (const k of [5, 12]) {
        const exp = await one.search(query, k);
        const got = await sharded.search(query, k);
        expect(fmt(got.dense), `30 chunks tie for the top ${k}: one index returns labels [${fmt(exp.dense)}]`).toBe(fmt(exp.dense));
        expect(fmt(got.text), `30 chunks tie for the top ${k} by BM25: one index returns [${fmt(exp.text)}]`).toBe(fmt(exp.text));
      }
    } finally {
      await Promise.all([one.close(), sharded.close()]);
    }
    takeCalls();
  });

  // How the work is split, counted from what the shard threads were asked. before.ts has no shards.
  describe.skipIf(name === 'before')('the shards', () => {
    it(`hold every chunk exactly once, split about evenly (largest at most ${BALANCE} × n / shards)`, () => {
      for (const [shards, run] of runs) {
        const sizes = run.open.loads.map((l) => l.length);
        const largest = Math.max(0, ...sizes);
        const bound = Math.floor((BALANCE * CHUNKS) / shards);
        expect(
          largest,
          `${sizes.length} thread(s) hold the ${CHUNKS} chunks, the largest ${largest} of them (sizes ${sizes.join(', ')}); ` +
            `asked for ${shards} shards, each should hold about ${Math.round(CHUNKS / shards)} (at most ${bound}), ` +
            'or one thread still searches the whole collection',
        ).toBeLessThanOrEqual(bound);
        const seen = new Map<number, number>();
        for (const labels of run.open.loads) for (const l of labels) seen.set(l, (seen.get(l) ?? 0) + 1);
        const twice = [...seen].filter(([, c]) => c > 1).map(([l]) => l);
        expect(twice, `labels ${twice.slice(0, 5).join(', ')} are in more than one shard: each chunk lives in exactly one`).toEqual([]);
        expect(seen.size, `${CHUNKS - seen.size} chunks are in no shard`).toBe(CHUNKS);
      }
    });

    it('ask every shard for the full k', () => {
      for (const [shards, run] of runs) {
        const least = Math.min(...run.queries.asked);
        expect(
          least,
          `with ${shards} shards each shard was asked for ${least} hits for a top ${K}: all ${K} best can live in one ` +
            `shard, so each must return its own top ${K}`,
        ).toBeGreaterThanOrEqual(K);
      }
    });

    it('are stopped by close(): no shard thread left running', () => {
      for (const [shards, run] of runs) {
        expect(
          run.leftRunning,
          `${run.leftRunning} of the ${run.started} shard threads started for ${shards} shards still run after close()`,
        ).toBe(0);
      }
    });

    it('are searched at the same time', () => {
      for (const [shards, run] of runs) {
        expect(
          run.queries.maxBusy,
          `at most ${run.queries.maxBusy} of ${shards} shards searched at once: awaiting one shard before asking the next ` +
            'adds their times instead of overlapping them on the threads',
        ).toBe(shards);
      }
    });
  });
});
