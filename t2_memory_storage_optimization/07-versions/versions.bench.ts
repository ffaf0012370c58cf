/**
 * Benchmark for 07-versions: a history of writes over n Brown documents (data.ts) kept by each variant; one call =
 * one dense top-10 query as of a version drawn from a fixed seeded sequence.
 * Run: npm run t2 -- --only 07-versions [--quick] [--impl exercise]
 *
 * Headline: bytes the history keeps per version, counted by walking each history object (shared/versions/sizeof.ts)
 * at evenly spaced points of the history, excluding the shared embedder: one sample per stretch between two walks.
 * The time per call (a query as of an old version) is the second figure.
 */
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Embedder } from '../../shared/types.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { reachableBytes } from '../../shared/versions/sizeof.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { planHistory } from './data.ts';
import type { VersionedIndex, WriteOp } from './types.ts';
import * as replay from './wrong/replay-log.ts';

type Mod = typeof after;

interface Size {
  docs: number;
  writes: number;
}

const K = 10;
const HEADLINE = 'bytes kept per version';
const QUERIES = [
  'jury investigation of the election',
  'the governor and the state legislature',
  'baseball game and the players',
  'church, religion and faith',
  'tax bill and the budget',
  'hospital patients and doctors',
  'music and the orchestra',
  'science research in the laboratory',
];
const REPLAY = 'log only, replayed per query';

interface Counting extends Embedder {
  texts: number;
}

interface Kept {
  history: VersionedIndex;
  embedder: Counting;
  /** Bytes walked after write `versions[i]`. */
  walks: Array<{ version: number; bytes: number }>;
  /** Texts embedded by version 1 (the first ingest), and by all the writes. */
  embeddedFirst: number;
  embeddedByWrites: number;
  applyMs: number;
}

interface Input {
  size: Size;
  ops: WriteOp[];
  kept: Record<string, Kept>;
  /** [query index, version] pairs in order, the same for every variant. */
  asks: Array<[number, number]>;
  cursor: Record<string, number>;
}

async function keep(make: Mod['createHistory'], base: Embedder, ops: WriteOp[], walkEvery: number): Promise<Kept> {
  const embedder: Counting = {
    name: base.name,
    dim: base.dim,
    texts: 0,
    embed: (texts) => {
      embedder.texts += texts.length;
      return base.embed(texts);
    },
  };
  const history = make({ embedder });
  const walks: Kept['walks'] = [];
  let applyMs = 0;
  let embeddedFirst = 0;
  for (let i = 0; i < ops.length; i++) {
    const t0 = performance.now();
    const v = await history.apply(ops[i]);
    applyMs += performance.now() - t0;
    if (v === 1) embeddedFirst = embedder.texts;
    if (v === 1 || v % walkEvery === 0 || v === ops.length) walks.push({ version: v, bytes: reachableBytes(history, { exclude: [embedder] }) });
  }
  return { history, embedder, walks, embeddedFirst, embeddedByWrites: embedder.texts, applyMs: applyMs / ops.length };
}

function ask(input: Input, variant: string): Promise<unknown> {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  const [q, asOf] = input.asks[i % input.asks.length];
  return input.kept[variant].history.query(QUERIES[q], { asOf, k: K });
}

export default defineLesson<Size, Input>({
  id: 't2/07-versions',
  title: 'Versions: a snapshot of the index per version vs versioned chunks in one index',
  workload:
    'n Brown documents ingested at version 1, then writes (85% an edit of one document by the seeded edit model, ' +
    'a few two-document edits, additions, deletions); one call = a dense top-10 query as of a random version',
  sizes: { quick: { docs: 10, writes: 40 }, full: { docs: 60, writes: 300 } },
  setup: async (size, ctx) => {
    ctx.log(`loading Brown and GloVe, planning ${size.writes} writes over ${size.docs} documents`);
    const pool = await loadBrown({ limit: size.docs + 40 });
    const sif = await createDefaultEmbedder();
    await sif.fit(pool.slice(0, size.docs).flatMap((d) => chunkDocument(d)).map(indexText));
    const ops = planHistory(pool, { docs: size.docs, writes: size.writes, seed: 707 });
    const walkEvery = Math.max(1, Math.floor(size.writes / 16));
    const makers: Array<[string, Mod['createHistory']]> = [
      ['before', before.createHistory],
      [REPLAY, replay.createHistory],
      ['after', after.createHistory],
    ];
    const ex = ctx.exercise as Mod | undefined;
    if (ex) makers.push([EXERCISE, ex.createHistory]);
    const kept: Record<string, Kept> = {};
    for (const [name, make] of makers) {
      ctx.log(`writing the history with ${name}`);
      try {
        kept[name] = await keep(make, sif, ops, walkEvery);
      } catch (err) {
        if (name !== EXERCISE) throw err;
        ctx.log(`exercise: writing the history failed: ${(err as Error).message}`);
      }
    }
    const rand = mulberry32(77);
    const asks: Array<[number, number]> = Array.from({ length: 256 }, () => [Math.floor(rand() * QUERIES.length), 1 + Math.floor(rand() * size.writes)]);
    return { size, ops, kept, asks, cursor: {} };
  },
  baseline: 'before',
  headline: { name: 'bytes the history keeps per version', unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => ask(input, 'before'),
    [REPLAY]: (input) => ask(input, REPLAY),
    after: (input) => ask(input, 'after'),
  },
  exercise: (input) => ask(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const growth: CurvePoint[] = [];
    const writes = input.ops.length;
    for (const [name, k] of Object.entries(input.kept)) {
      const v = { variant: name };
      const samples: number[] = [];
      for (let i = 1; i < k.walks.length; i++) {
        const a = k.walks[i - 1];
        const b = k.walks[i];
        samples.push((b.bytes - a.bytes) / (b.version - a.version));
      }
      for (const w of k.walks) growth.push({ series: name, x: w.version, y: w.bytes / 1e6 });
      const last = k.walks[k.walks.length - 1];
      metrics.push(
        measured(HEADLINE, 'bytes', samples, { ...v, note: `versions 2 … ${writes}, one sample per stretch of ${k.walks[2]?.version - k.walks[1]?.version || 1} writes` }),
        { name: 'whole history', value: last.bytes, unit: 'bytes', variant: name, note: `after ${writes} writes; version 1 alone: ${Math.round(k.walks[0].bytes / 1e3)} kB` },
        {
          name: 'chunks embedded per write',
          value: (k.embeddedByWrites - k.embeddedFirst) / (writes - 1),
          unit: 'chunks',
          variant: name,
          note: `counted, writes 2 … ${writes} (version 1 embedded ${k.embeddedFirst})`,
        },
        { name: 'time to apply a write', value: k.applyMs, unit: 'ms', variant: name, note: 'mean over the history' },
      );
      // what an as-of query and a rollback cost, counted
      k.embedder.texts = 0;
      await k.history.query(QUERIES[0], { asOf: Math.max(1, Math.floor(writes / 3)), k: K });
      metrics.push({ name: 'texts embedded by a query as of an old version', value: k.embedder.texts, unit: '', variant: name, note: 'counted' });
      const to = Math.max(1, Math.floor(writes / 2));
      const bytesBefore = reachableBytes(k.history, { exclude: [k.embedder] });
      const rollbackMs: number[] = [];
      k.embedder.texts = 0;
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        await k.history.rollback(r % 2 === 0 ? to : writes);
        rollbackMs.push(performance.now() - t0);
      }
      const bytesAfter = reachableBytes(k.history, { exclude: [k.embedder] });
      metrics.push(
        measured('time to roll back', 'ms', rollbackMs, { ...v, note: `to version ${to} and back, 3 rollbacks` }),
        { name: 'bytes a rollback adds', value: (bytesAfter - bytesBefore) / 3, unit: 'bytes', variant: name, note: `mean of 3; chunks embedded: ${k.embedder.texts}` },
      );
      ctx.log(`${name}: ${Math.round(last.bytes / 1e3)} kB after ${writes} writes`);
    }
    return {
      metrics,
      curves: [{ id: 'history-bytes', title: 'Bytes the history keeps against the number of versions', xLabel: 'version', yLabel: 'MB kept', points: growth }],
    };
  },
});
