/**
 * Checkpoint for 10-batching. `npm run checkpoint -- 10-batching` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (one call per item) and after.ts (the micro-batcher).
 *
 * The window tests use fake timers and look at which batches ran (structure), never at how long anything took.
 * Tests marked "batches" are skipped for before.ts, which by design never groups items.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { gaussian, mulberry32 } from '../../shared/util/random.ts';
import * as reference from './before.ts';
import { buildMatrix, loadCorpus, type Corpus } from './data.ts';
import { createService } from './service.ts';

type Mod = typeof import('./after.ts');

function randomRows(n: number, dim: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, g));
}

/** A batch function that doubles numbers and records every batch it was called with. */
function recorder() {
  const batches: number[][] = [];
  const fn = (items: number[]) => {
    batches.push([...items]);
    return items.map((x) => x * 2);
  };
  return { batches, fn };
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
      expect(got).toHaveLength(b);
      queries.forEach((q, i) => expect(got[i]).toEqual(reference.searchBatch(index, [q], 10)[0]));
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
  });

  describe('createBatcher', () => {
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
        .map((r, i) => (r.status === 'fulfilled' && r.value === i * 2 ? '' : `call ${i}: ${r.status === 'fulfilled' ? r.value : r.reason}`))
        .filter(Boolean);
      expect(wrong.slice(0, 3)).toEqual([]); // the first few wrong answers, if any
      expect(got).toHaveLength(1_000);
      expect(batches.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
      expect(Math.max(...batches.map((x) => x.length))).toBeLessThanOrEqual(16);
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

    it('never makes an item wait longer than maxWaitMs (fake clock)', async () => {
      vi.useFakeTimers();
      const { fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 8, maxWaitMs: 10 });
      const settled: number[] = [];
      for (let i = 0; i < 3; i++) void b.submit(i).then((v) => settled.push(v), () => {});
      await vi.advanceTimersByTimeAsync(10);
      expect(settled.sort()).toEqual([0, 2, 4]);
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
        if (inFailedBatch) expect(settled[i]).toEqual({ status: 'rejected', reason: boom });
        else expect(settled[i]).toEqual({ status: 'fulfilled', value: s.length });
      });
      expect(settled[1].status).toBe('rejected');
      const later = Promise.allSettled([b.submit('ok')]);
      await vi.advanceTimersByTimeAsync(5);
      expect(await later).toEqual([{ status: 'fulfilled', value: 2 }]);
    });

    it('rejects the callers with a clear error when the batch function returns the wrong number of results', async () => {
      vi.useFakeTimers();
      const b = impl.createBatcher((items: number[]) => items.slice(1), { maxItems: 3, maxWaitMs: 1 });
      const p = Promise.allSettled([b.submit(1), b.submit(2), b.submit(3)]);
      await vi.advanceTimersByTimeAsync(1);
      for (const r of await p) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/returned \d+ results for \d+ item/);
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

    it.skipIf(name === 'before')('batches: flushes at maxItems at once, without the timer', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 1_000 });
      const p = Promise.allSettled([1, 2, 3, 4].map((x) => b.submit(x)));
      await vi.advanceTimersByTimeAsync(0);
      expect(batches).toEqual([[1, 2, 3, 4]]);
      expect((await p).map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual([2, 4, 6, 8]);
      expect(vi.getTimerCount()).toBe(0); // the window's timer was cleared, not left to fire
    });

    it.skipIf(name === 'before')('batches: flushes a partial window maxWaitMs after its FIRST item', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 10 });
      void b.submit(1).catch(() => {});
      await vi.advanceTimersByTimeAsync(6);
      void b.submit(2).catch(() => {});
      await vi.advanceTimersByTimeAsync(3);
      expect(batches).toEqual([]); // 9 ms after the first item: still open
      expect(b.pending).toBe(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([[1, 2]]);
    });

    it.skipIf(name === 'before')('batches: an overflowing burst becomes full windows plus one timed remainder', async () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 4, maxWaitMs: 5 });
      const p = Promise.allSettled(Array.from({ length: 10 }, (_, i) => b.submit(i)));
      await vi.advanceTimersByTimeAsync(0);
      expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
      await vi.advanceTimersByTimeAsync(5);
      expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
      expect((await p).map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    });

    it.skipIf(name === 'before')('batches: flush() closes the window early', () => {
      vi.useFakeTimers();
      const { batches, fn } = recorder();
      const b = impl.createBatcher(fn, { maxItems: 10, maxWaitMs: 1_000 });
      void b.submit(1).catch(() => {});
      void b.submit(2).catch(() => {});
      b.flush();
      expect(batches).toEqual([[1, 2]]);
      expect(b.pending).toBe(0);
    });
  });

  describe('the retrieval service (SIF embedder + search, both batched)', () => {
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
