/**
 * Checkpoint for 10-batching. `npm run checkpoint -- 10-batching` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (one call per item) and after.ts (the micro-batcher).
 *
 * The window tests use fake timers (vitest's clock, Date included) and look at which batches ran and when, never at
 * how long anything took. The cost of searchBatch is counted: every value read from the corpus matrix. Tests about
 * grouping are skipped for before.ts, which by design never groups items.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { gaussian, mulberry32 } from '../../shared/util/random.ts';
import * as reference from './before.ts';
import { buildMatrix, loadCorpus, type Corpus, type MatrixIndex } from './data.ts';
import { createService } from './service.ts';

type Mod = typeof import('./after.ts');

function randomRows(n: number, dim: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, g));
}

/** A batch function that doubles numbers and records every batch it was called with, and when (the fake clock). */
function recorder() {
  const batches: number[][] = [];
  const at: number[] = [];
  const fn = (items: number[]) => {
    batches.push([...items]);
    at.push(Date.now());
    return items.map((x) => x * 2);
  };
  return { batches, at, fn };
}

const sizes = (batches: unknown[][]) => batches.map((b) => b.length).join(' + ');

/**
 * The matrix with every value read from it counted. Reads through methods (subarray, iteration) go to the real array
 * uncounted: the count can only be too low, never too high.
 */
function countingMatrix(index: MatrixIndex): { index: MatrixIndex; reads: () => number } {
  let reads = 0;
  const rows = new Proxy(index.rows, {
    get(target, prop) {
      if (typeof prop === 'string') {
        const c = prop.charCodeAt(0);
        if (c >= 48 && c <= 57) {
          reads++;
          return target[Number(prop)];
        }
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { index: { n: index.n, dim: index.dim, rows }, reads: () => reads };
}

afterEach(() => {
  vi.useRealTimers();
});

let corpus: Corpus;
beforeAll(async () => {
  corpus = await loadCorpus({ docs: 20, queries: 60 });
}, 60_000);

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  describe('searchBatch', () => {
    const index = buildMatrix(randomRows(1_500, 24, 1), 24);

    it.each([1, 3, 4, 7, 33])('gives each of %i queries exactly the hits of a one-query search', (b) => {
      const queries = randomRows(b, 24, 100 + b);
      const got = impl.searchBatch(index, queries, 10);
      expect(got, `searchBatch returned ${got.length} lists for ${b} queries`).toHaveLength(b);
      queries.forEach((q, i) => {
        const want = reference.searchBatch(index, [q], 10)[0];
        expect(got[i], `query ${i} of ${b}: the hits differ from a one-query pass (labels or bit-identical scores)`).toEqual(want);
      });
    });

    it('returns every row, best first, when k > n', () => {
      const small = buildMatrix(randomRows(5, 4, 2), 4);
      const [hits] = impl.searchBatch(small, randomRows(1, 4, 3), 50);
      expect(hits.map((h) => h.label).sort()).toEqual([0, 1, 2, 3, 4]);
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
    });

    it('returns an empty list per query for an empty index, and [] for no queries', () => {
      expect(impl.searchBatch(buildMatrix([], 4), randomRows(2, 4, 4), 3)).toEqual([[], []]);
      expect(impl.searchBatch(index, [], 3)).toEqual([]);
    });

    it('rejects a query of the wrong dimension and a bad k with a RangeError', () => {
      expect(() => impl.searchBatch(index, [new Float32Array(3)], 5)).toThrow(RangeError);
      expect(() => impl.searchBatch(index, randomRows(1, 24, 5), 0)).toThrow(RangeError);
    });

    it.skipIf(name === 'before')('lets the queries of a batch share the matrix instead of reading it once per query', () => {
      const n = 300;
      const dim = 16;
      const b = 8;
      const counted = countingMatrix(buildMatrix(randomRows(n, dim, 6), dim));
      const queries = randomRows(b, dim, 7);
      const got = impl.searchBatch(counted.index, queries, 5);
      expect(got).toEqual(reference.searchBatch(buildMatrix(randomRows(n, dim, 6), dim), queries, 5));
      const passes = counted.reads() / (n * dim);
      expect(
        passes,
        `searchBatch read the whole matrix ${+passes.toFixed(2)} times for a batch of ${b} queries ` +
          `(${counted.reads()} reads of ${n} × ${dim} values): one pass per query, so the batch shares nothing. ` +
          `A batch pays when its queries use each row while it is loaded (at most ${b / 2} passes for ${b} queries)`,
      ).toBeLessThanOrEqual(b / 2);
    });
  });

  // A batcher that never flushes leaves its callers waiting forever: those tests fail by timing out, after 3 s
  // rather than vitest's default (a right batcher answers these in milliseconds).
  describe('createBatcher', { timeout: 3_000 }, () => {
    it('gives every caller its own result, and loses no call (1,000 calls, mixed arrival)', async () => {
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 16, maxWaitMs: 1 });
      const calls: Promise<PromiseSettledResult<number>>[] = [];
      for (let i = 0; i < 1_000; i++) {
        // settle at once: a rejection must not go unhandled while the loop yields
        calls.push(Promise.allSettled([b.submit(i)]).then(([r]) => r));
        if (i % 97 === 0) await new Promise((r) => setTimeout(r, 0)); // let some windows close on the timer
      }
      const got = await Promise.all(calls);
      const wrong = got
        .map((r, i) => (r.status === 'fulfilled' && r.value === i * 2 ? '' : `call ${i} got ${r.status === 'fulfilled' ? r.value : r.reason}`))
        .filter(Boolean);
      expect(wrong.length, `${wrong.length} of 1000 callers got another caller's output or an error: ${wrong.slice(0, 3).join('; ')}`).toBe(0);
      const ran = batches.flat().sort((x, y) => x - y);
      expect(ran, `the batch function saw ${ran.length} items for 1000 calls`).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
      const largest = Math.max(...batches.map((x) => x.length));
      expect(largest, `a call carried ${largest} items, more than maxItems (16)`).toBeLessThanOrEqual(16);
      await b.close();
    });

    it('routes results by position even when the batch function is async', async () => {
      const b = impl.createBatcher(async (items: string[]) => {
        await new Promise((r) => setTimeout(r, 1));
        return items.map((s) => s.toUpperCase());
      }, { maxItems: 4, maxWaitMs: 1 });
      const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
      expect(await Promise.all(words.map((w) => b.submit(w)))).toEqual(words.map((w) => w.toUpperCase()));
    });

    it('closes a window that never fills maxWaitMs after its first item: a lone request does not wait for company', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 8, maxWaitMs: 10 });
      const settled: number[] = [];
      void b.submit(21).then((v) => settled.push(v), () => {});
      await vi.advanceTimersByTimeAsync(10);
      expect(
        settled.length,
        `a lone request was still waiting 10 ms after it arrived (maxWaitMs 10, maxItems 8; calls so far: ${batches.length}): ` +
          `a window that does not fill must close on its timer, or at low load a request waits until others happen to come`,
      ).toBe(1);
      expect(settled).toEqual([42]);
      expect(b.pending).toBe(0);
      await b.close();
    });

    it.skipIf(name === 'before')('keeps a partial window open until maxWaitMs after its FIRST item, then runs it as one call', async () => {
      vi.useFakeTimers();
      const { batches, at, fn } = recorder();
      const t0 = Date.now();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 10 });
      void b.submit(1).catch(() => {});
      await vi.advanceTimersByTimeAsync(6);
      void b.submit(2).catch(() => {});
      await vi.advanceTimersByTimeAsync(30);
      const first = at.length > 0 ? at[0] - t0 : undefined;
      const when = first === undefined ? 'never, in 36 ms' : `${first} ms after its first item`;
      expect(
        first,
        `a window of 2 items (maxItems 4, maxWaitMs 10) closed ${when}: ` +
          (first === undefined
            ? 'a window that does not fill must close on its timer'
            : first > 10
              ? `its first item waited ${first} ms because its deadline moved when a later item arrived; a window closes ` +
                'maxWaitMs after its FIRST item, however many follow, or a steady trickle keeps it open until it fills'
              : `before maxWaitMs, with ${batches[0].length} of 4 items: a window that is not full stays open to collect more`),
      ).toBe(10);
      expect(batches, `the 2 items ran as ${batches.length} calls (${sizes(batches)}); they arrived in one window`).toEqual([[1, 2]]);
    });

    it.skipIf(name === 'before')('runs items submitted together as one call, at once when the window is full', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 1_000 });
      const p = Promise.allSettled([1, 2, 3, 4].map((x) => b.submit(x)));
      await vi.advanceTimersByTimeAsync(0);
      expect(
        batches.length,
        batches.length === 0
          ? 'a full window (4 items, maxItems 4) did not run at once: it waited for its timer although nothing more could join'
          : `4 items submitted together ran as ${batches.length} calls (${sizes(batches)} items): a batcher groups the items ` +
              'that arrive together into one call of the batch function, up to maxItems',
      ).toBe(1);
      expect(batches).toEqual([[1, 2, 3, 4]]);
      expect((await p).map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual([2, 4, 6, 8]);
    });

    it.skipIf(name === 'before')('turns an overflowing burst into full windows plus one timed remainder', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 5 });
      const p = Promise.allSettled(Array.from({ length: 10 }, (_, i) => b.submit(i)));
      await vi.advanceTimersByTimeAsync(0);
      expect(batches, `a burst of 10 (maxItems 4) ran at once as ${sizes(batches) || 'nothing'}; want 4 + 4, and 2 waiting`).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ]);
      await vi.advanceTimersByTimeAsync(5);
      expect(batches, `after maxWaitMs the calls were ${sizes(batches)}; want 4 + 4 + 2`).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
      expect((await p).map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    });

    it.skipIf(name === 'before')('gives the next window its own full maxWaitMs after a full window ran', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 2, maxWaitMs: 10 });
      void b.submit(1).catch(() => {});
      await vi.advanceTimersByTimeAsync(4);
      void b.submit(2).catch(() => {}); // fills the first window
      await vi.advanceTimersByTimeAsync(2);
      void b.submit(3).catch(() => {}); // opens the next one at 6 ms
      await vi.advanceTimersByTimeAsync(9); // 15 ms: the first window's timer would have fired at 10
      expect(batches, `calls by 9 ms into the second window: ${sizes(batches)}; want only the full first window (2)`).toEqual([[1, 2]]);
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([[1, 2], [3]]);
    });

    it.skipIf(name === 'before')('flush() closes the window early', () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 10, maxWaitMs: 1_000 });
      void b.submit(1).catch(() => {});
      void b.submit(2).catch(() => {});
      expect(b.pending, `${b.pending} items waiting after 2 were submitted into a window of up to 10 (maxWaitMs 1000)`).toBe(2);
      b.flush();
      expect(batches).toEqual([[1, 2]]);
      expect(b.pending).toBe(0);
    });

    it('rejects every caller of a failed batch with its error, resolves the others, and keeps serving', async () => {
      vi.useFakeTimers();
      const batches: string[][] = [];
      const boom = new Error('embedding backend failed');
      const b = impl.createBatcher((items: string[]) => {
        batches.push([...items]);
        if (items.includes('bad')) throw boom;
        return items.map((s) => s.length);
      }, { maxItems: 2, maxWaitMs: 5 });
      const items = ['a', 'bad', 'ccc', 'dd', 'eeeee'];
      const results = Promise.allSettled(items.map((s) => b.submit(s)));
      await vi.advanceTimersByTimeAsync(5);
      const settled = await results;
      items.forEach((s, i) => {
        const inFailedBatch = batches.find((x) => x.includes(s))!.includes('bad');
        if (inFailedBatch) expect(settled[i], `"${s}" ran in the failed call: its caller must get that call's error`).toEqual({ status: 'rejected', reason: boom });
        else expect(settled[i], `"${s}" ran in a call that succeeded: another call's failure must not reach it`).toEqual({ status: 'fulfilled', value: s.length });
      });
      const later = Promise.allSettled([b.submit('ok')]);
      await vi.advanceTimersByTimeAsync(5);
      expect(await later, 'after a failed call the batcher must keep serving').toEqual([{ status: 'fulfilled', value: 2 }]);
    });

    it('rejects every caller with an Error when the batch function returns the wrong number of results', async () => {
      vi.useFakeTimers();
      const b = impl.createBatcher((items: number[]) => items.slice(1), { maxItems: 3, maxWaitMs: 1 });
      const p = Promise.allSettled([b.submit(1), b.submit(2), b.submit(3)]);
      await vi.advanceTimersByTimeAsync(1);
      for (const [i, r] of (await p).entries()) {
        expect(r.status, `caller ${i} of a call that returned 2 results for 3 items was ${r.status}; no output can be trusted to be its own`).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(Error);
      }
    });

    it('close() runs what is waiting, then rejects new items', async () => {
      const { fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 100, maxWaitMs: 60_000 });
      const p = Promise.allSettled([b.submit(21)]);
      await b.close();
      expect(await p).toEqual([{ status: 'fulfilled', value: 42 }]);
      await expect(b.submit(1)).rejects.toThrow(/closed/);
    });
  });

  describe('the retrieval service (SIF embedder + search, both batched)', { timeout: 3_000 }, () => {
    it('answers 60 concurrent real queries exactly as one-at-a-time calls do, each to its own caller', async () => {
      const { embedder, index, queries } = corpus;
      const service = createService(impl, embedder, index, { maxItems: 8, maxWaitMs: 1, k: 5 });
      const got = await Promise.all(queries.map((q) => service.query(q)));
      await service.close();
      const want = queries.map((q) => reference.searchBatch(index, embedder.embedSync([q]), 5)[0]);
      expect(got).toEqual(want);
      expect(got.some((hits) => hits.length === 5)).toBe(true);
    });

    it('fails only the bad request, not its batch', async () => {
      const { embedder, index, queries } = corpus;
      const service = createService(impl, embedder, index, { maxItems: 8, maxWaitMs: 1 });
      const settled = await Promise.allSettled([
        service.query(queries[0]),
        service.query(42 as unknown as string),
        service.query(queries[1]),
      ]);
      await service.close();
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    });
  });
});
