/**
 * Checkpoint for 01-memory-pool. `npm run checkpoint -- 01-memory-pool` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts, which allocates everything per query.
 *
 * The cost is counted, not timed: typed arrays created per query (the global constructors swapped for counting
 * ones), score slots reset per query (`fill` watched), bytes allocated per query at two sizes of the label space and
 * the searcher's memory after many queries (both measured around windows without a garbage collection, alloc.ts).
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Bm25Index } from '../../shared/index/bm25.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { bytesPerCall, countTypedArrays, lowestUpTo, median, reachableBytes, warmUp } from './alloc.ts';
import * as reference from './before.ts';
import { analyzeAll, bm25Over, loadCorpus, postingsOf, sampleQueries, type Postings } from './data.ts';

type Mod = typeof import('./after.ts');

let index: Bm25Index;
let postings: Postings;
/** The same postings in a label space 16 times larger. */
let sparse: Postings;
let queries: string[][];

beforeAll(async () => {
  const corpus = await loadCorpus({ docs: 40 });
  const analysed = analyzeAll(corpus.texts);
  index = bm25Over(analysed);
  postings = postingsOf(analysed);
  sparse = postingsOf(analysed, { spacing: 16 });
  queries = sampleQueries(corpus.docs, 24);
});

const fresh = (terms: string[], k: number, p = postings): ScoredLabel[] => reference.createSearcher(p).search(terms, k);

/** Distinct labels the query's terms have postings for: the score slots a query writes. */
function touched(p: Postings, terms: readonly string[]): number {
  const seen = new Set<number>();
  for (const term of terms) {
    const t = p.termIds.get(term);
    if (t !== undefined) for (let i = p.offsets[t]; i < p.offsets[t + 1]; i++) seen.add(p.labels[i]);
  }
  return seen.size;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  afterEach(() => vi.restoreAllMocks());

  it('returns the same hits as a fresh reference searcher, query after query on one searcher', () => {
    const s = impl.createSearcher(postings);
    // every query twice, with different k in between, so each runs after a different one
    const ks = [10, 3, 50, 1, 10_000];
    for (let round = 0; round < 2; round++) {
      queries.forEach((q, i) => {
        const k = ks[(i + round) % ks.length];
        const got = s.search(q, k);
        const want = fresh(q, k);
        expect(
          got,
          `query ${i} (round ${round + 1}, k = ${k}) differs from the same query on a fresh searcher: ` +
            `scores carried over from an earlier query (a reused buffer must be all zero again when the next query starts)`,
        ).toEqual(want);
      });
    }
  });

  it('gives the same scores as the engine’s own Bm25Index.search', () => {
    const s = impl.createSearcher(postings);
    for (const q of queries.slice(0, 8)) {
      const got = s.search(q, 10);
      const engine = index.search(q, 10);
      expect(got.length).toBe(engine.length);
      // same ranking up to float32 rounding (the engine sums a repeated term once, times its count)
      got.forEach((h, i) => expect(Math.abs(h.score - engine[i].score)).toBeLessThanOrEqual(1e-4 * engine[i].score));
      expect(got[0].label).toBe(engine[0].label);
    }
  });

  it('returns every matching document when k is larger, and nothing for unknown terms', () => {
    const s = impl.createSearcher(postings);
    const q = queries[0];
    expect(s.search(q, 1_000_000)).toHaveLength(touched(postings, q));
    expect(s.search(['zzzznotaword', 'qqqqq'], 10)).toEqual([]);
    expect(s.search([], 10)).toEqual([]);
    expect(s.search(q, 5)).toEqual(fresh(q, 5));
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects k = %s with a RangeError', (k) => {
    expect(() => impl.createSearcher(postings).search(queries[0], k)).toThrow(RangeError);
  });

  it('leaves the hits a caller holds alone when the next query runs', () => {
    const s = impl.createSearcher(postings);
    const first = s.search(queries[0], 10);
    const copy = first.map((h) => ({ ...h }));
    s.search(queries[1], 10);
    s.search(queries[2], 50);
    expect(first, 'the hits of the first query changed when later queries ran: they are the caller’s now').toEqual(copy);
  });

  it('keeps two searchers over different indexes apart', () => {
    const a = impl.createSearcher(postings);
    const b = impl.createSearcher(sparse);
    for (const q of queries.slice(0, 6)) {
      expect(a.search(q, 10)).toEqual(fresh(q, 10));
      expect(b.search(q, 10)).toEqual(fresh(q, 10, sparse));
    }
  });

  // The cost the lesson is about, counted. before.ts allocates per query by design, so it is exempt here.
  describe.skipIf(name === 'before')('the memory of a query', () => {
    const warm = (s: reference.Searcher): void => {
      for (const q of queries) s.search(q, 10_000);
      for (const q of queries) s.search(q, 10);
    };

    it('creates no typed array per query once warmed up', () => {
      const s = impl.createSearcher(postings);
      warm(s);
      const n = queries.length;
      const c = countTypedArrays(() => {
        for (const q of queries) s.search(q, 10);
      });
      expect(
        c.arrays,
        `${c.arrays} typed arrays (${kb(c.bytes)}) created by ${n} queries after a warm-up, ${kb(c.bytes / n)} per query ` +
          `(label space ${postings.labelCount}): the score buffer, candidate list and heap are made per query; ` +
          `a query's working memory can be made once and reused by every query`,
      ).toBe(0);
    });

    it('resets only the score slots the query wrote', () => {
      const s = impl.createSearcher(sparse);
      warm(s);
      const proto = Object.getPrototypeOf(Int8Array.prototype) as { fill: (...a: unknown[]) => unknown };
      const fill = vi.spyOn(proto, 'fill');
      let written = 0;
      for (const q of queries) {
        s.search(q, 10);
        written += touched(sparse, q);
      }
      let filled = 0;
      fill.mock.calls.forEach((args, i) => {
        const len = (fill.mock.contexts[i] as ArrayLike<number>).length;
        const start = args[1] === undefined ? 0 : Number(args[1]);
        const end = args[2] === undefined ? len : Number(args[2]);
        const from = start < 0 ? Math.max(len + start, 0) : Math.min(start, len);
        const to = end < 0 ? Math.max(len + end, 0) : Math.min(end, len);
        filled += Math.max(0, to - from);
      });
      const n = queries.length;
      expect(
        filled,
        `${Math.round(filled / n)} score slots reset per query for ${Math.round(written / n)} written ` +
          `(label space ${sparse.labelCount}): zeroing the whole buffer costs what the allocation did; ` +
          `the query knows which slots it wrote`,
      ).toBeLessThanOrEqual(written);
    });

    it('allocates the same per query whatever the size of the label space', async () => {
      const measure = async (p: Postings): Promise<number> => {
        const s = impl.createSearcher(p);
        warm(s);
        warmUp(() => s.search(queries[Math.floor(Math.random() * queries.length)], 10), 100);
        let i = 0;
        return median(await bytesPerCall(() => s.search(queries[i++ % queries.length], 10), { windows: 31 }));
      };
      let small = 0;
      let large = 0;
      const extra = await lowestUpTo(2048, 4, async () => {
        small = await measure(postings);
        large = await measure(sparse);
        return large - small;
      });
      expect(
        extra,
        `a query allocates ${kb(small)} with a label space of ${postings.labelCount} and ${kb(large)} with ` +
          `${sparse.labelCount}, for the same documents: memory allocated per query grows with the index, not with ` +
          `the work the query does`,
      ).toBeLessThanOrEqual(2048);
    });

    it('holds the same memory after many queries', async () => {
      const s = impl.createSearcher(sparse);
      warm(s);
      const h0 = await reachableBytes();
      const n = 300;
      for (let i = 0; i < n; i++) s.search(queries[i % queries.length], 10);
      const growth = (await reachableBytes()) - h0;
      s.search(queries[0], 10); // the searcher is alive until here
      expect(
        growth,
        `the searcher held on to ${kb(growth)} more after ${n} queries (${kb(growth / n)} per query): buffers handed ` +
          `out to queries must come back to be reused, or the pool only grows`,
      ).toBeLessThanOrEqual(512 * 1024);
    });
  });
});
