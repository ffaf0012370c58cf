/**
 * Checkpoint for 09-vector-math. `npm run checkpoint -- 09-vector-math` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts and after.ts. The reference is before.ts: the simplest correct version.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import * as reference from './before.ts';
import { randomVectors } from './data.ts';

interface Hit {
  index: number;
  score: number;
}
interface Mod {
  buildIndex(vectors: number[][]): unknown;
  search(index: never, query: number[], k: number): Hit[];
}

const run = (impl: Mod, vectors: number[][], query: number[], k: number): Hit[] =>
  impl.search(impl.buildIndex(vectors) as never, query, k);

/** The lengths of every array (plain or typed) sorted while `fn` runs. */
function sortedLengths(fn: () => void): number[] {
  const typedSort = Object.getPrototypeOf(Int8Array.prototype) as { sort: (...a: unknown[]) => unknown };
  const plain = vi.spyOn(Array.prototype, 'sort');
  const typed = vi.spyOn(typedSort, 'sort');
  try {
    fn();
    return [...plain.mock.contexts, ...typed.mock.contexts].map((a) => (a as ArrayLike<unknown>).length);
  } finally {
    plain.mockRestore();
    typed.mockRestore();
  }
}

/** Square roots taken (Math.sqrt, Math.hypot) while `fn` runs. */
function rootsTaken(fn: () => void): number {
  const sqrt = vi.spyOn(Math, 'sqrt');
  const hypot = vi.spyOn(Math, 'hypot');
  try {
    fn();
    return sqrt.mock.calls.length + hypot.mock.calls.length;
  } finally {
    sqrt.mockRestore();
    hypot.mockRestore();
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  afterEach(() => vi.restoreAllMocks());

  it('finds the most similar vectors on a hand-checked example', () => {
    const vectors = [
      [1, 0],
      [0, 1],
      [1, 1],
      [-1, 0],
    ];
    const hits = run(impl, vectors, [2, 0], 2);
    expect(hits.map((h) => h.index)).toEqual([0, 2]);
    expect(hits[0].score).toBeCloseTo(1, 6);
    expect(hits[1].score).toBeCloseTo(Math.SQRT1_2, 6);
  });

  it('returns the same top-k ids as the reference, scores within 1e-5', () => {
    const vectors = randomVectors(2_000, 100, 1);
    const queries = randomVectors(8, 100, 2);
    for (const q of queries) {
      const want = reference.search(reference.buildIndex(vectors), q, 10);
      const got = run(impl, vectors, q, 10);
      expect(got.map((h) => h.index)).toEqual(want.map((h) => h.index));
      got.forEach((h, i) => expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-5));
    }
  });

  it('returns hits best first', () => {
    const hits = run(impl, randomVectors(500, 16, 3), randomVectors(1, 16, 4)[0], 50);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
  });

  it('returns all n vectors when k is larger than n', () => {
    const vectors = randomVectors(7, 5, 5);
    const hits = run(impl, vectors, randomVectors(1, 5, 6)[0], 100);
    expect(hits).toHaveLength(7);
    expect(new Set(hits.map((h) => h.index)).size).toBe(7);
  });

  it('returns nothing for an empty corpus', () => {
    expect(run(impl, [], [1, 2, 3], 5)).toEqual([]);
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects k = %s with a RangeError', (k) => {
    expect(() => run(impl, [[1, 0]], [1, 0], k)).toThrow(RangeError);
  });

  it('rejects a query with the wrong number of dimensions', () => {
    expect(() => run(impl, [[1, 0, 0]], [1, 0], 1)).toThrow(RangeError);
  });

  it('scores a zero vector 0, never NaN', () => {
    const hits = run(impl, [[0, 0, 0], [1, 0, 0], [-1, 0, 0]], [1, 0, 0], 3);
    expect(hits.map((h) => h.index)).toEqual([1, 0, 2]);
    expect(hits[1].score).toBe(0);
  });

  it('scores everything 0 for a zero query (ties: lower index first)', () => {
    const hits = run(impl, randomVectors(20, 4, 8), [0, 0, 0, 0], 5);
    expect(hits.map((h) => h.index)).toEqual([0, 1, 2, 3, 4]);
    for (const h of hits) expect(h.score).toBe(0);
  });

  it('does not modify the caller’s vectors', () => {
    const vectors = randomVectors(10, 8, 9);
    const copy = vectors.map((v) => [...v]);
    run(impl, vectors, vectors[0], 3);
    expect(vectors).toEqual(copy);
  });

  // The cost of a query, counted rather than timed. before.ts is the naive reference these rules are about.
  describe.skipIf(name === 'before')('the cost of one query', () => {
    const n = 2_000;
    const k = 10;
    const vectors = randomVectors(n, 32, 11);
    const query = randomVectors(1, 32, 12)[0];

    it(`keeps the best ${k} as it goes instead of ordering all ${n} scores`, () => {
      const index = impl.buildIndex(vectors) as never;
      const lengths = sortedLengths(() => impl.search(index, query, k));
      const longest = Math.max(0, ...lengths);
      expect(
        longest,
        `search sorted all ${longest} scores to keep ${k}: ordering n scores costs O(n log n) and an object per row; ` +
          `keep only the best k seen so far, so most rows are rejected with one comparison`,
      ).toBeLessThanOrEqual(k);
    });

    it('takes no norm per row on a query: the rows are the same for every query', () => {
      const index = impl.buildIndex(vectors) as never;
      const roots = rootsTaken(() => impl.search(index, query, k));
      expect(
        roots,
        `search took ${roots} square roots for ${n} rows, a norm per row on every query: ` +
          `work that does not depend on the query belongs in buildIndex, done once`,
      ).toBeLessThanOrEqual(2);
    });
  });
});
