/**
 * Checkpoint for 12-approximate-search. `npm run checkpoint -- 12-approximate-search` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (exact) and after.ts (hnswlib). usearch (variants.ts) is checked too.
 *
 * Data: 10,000 GloVe words, 200 held-out words as queries (seeded split), exact top-10 as ground truth.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { isRagError } from '../../shared/errors.ts';
import { groundTruth, loadSplit, recallAtK, type GloveSplit } from './data.ts';
import { buildUsearchIndex } from './variants.ts';
import type { AnnIndex, AnnOptions } from './before.ts';

type Mod = typeof import('./after.ts');

const K = 10;
let split: GloveSplit;
let truth: number[][];
beforeAll(async () => {
  split = await loadSplit(10_000, 200);
  truth = groundTruth(split.data, split.queries, K);
}, 60_000);

/** The plainest possible exact search: cosine in float64 for every vector, full sort. */
function bruteForce(data: Float32Array[], q: Float32Array, k: number): Array<{ label: number; score: number }> {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const nq = norm(q);
  return data
    .map((v, label) => ({ label, score: v.reduce((s, x, j) => s + x * q[j], 0) / (norm(v) * nq) }))
    .sort((a, b) => b.score - a.score || a.label - b.label)
    .slice(0, k);
}

function searchAll(index: AnnIndex, queries: Float32Array[]): number[][] {
  return queries.map((q) => index.search(q, K).map((h) => h.label));
}

function sharedChecks(label: string, build: () => (vectors: Float32Array[], opts?: AnnOptions) => AnnIndex) {
  describe(label, () => {
    let index: AnnIndex;
    beforeAll(() => {
      index = build()(split.data);
    }, 60_000);

    it('reaches recall@10 ≥ 0.95 at the default ef on 10k GloVe words, 200 held-out queries', () => {
      expect(index.size).toBe(split.data.length);
      expect(recallAtK(searchAll(index, split.queries), truth, K)).toBeGreaterThanOrEqual(0.95);
    });

    it('returns hits best first, labels are positions in the data, scores are cosines', () => {
      for (const q of split.queries.slice(0, 20)) {
        const hits = index.search(q, K);
        expect(hits).toHaveLength(K);
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score - 1e-6);
        for (const h of hits) {
          const v = split.data[h.label];
          const cos = v.reduce((s, x, j) => s + x * q[j], 0); // both unit length
          expect(Math.abs(h.score - cos)).toBeLessThan(1e-4);
        }
      }
    });

    it('finds a data word itself as its own nearest neighbour', () => {
      for (const i of [0, 17, 999, 5_000, 9_999]) expect(index.search(split.data[i], 1)[0].label).toBe(i);
    });

    it('gives more recall for a longer candidate list (ef 10 → 256)', () => {
      index.setEf(10);
      const low = recallAtK(searchAll(index, split.queries), truth, K);
      index.setEf(256);
      const high = recallAtK(searchAll(index, split.queries), truth, K);
      index.setEf(64);
      expect(high).toBeGreaterThanOrEqual(low);
      expect(high).toBeGreaterThanOrEqual(0.99);
    });

    it('is deterministic: same data, same order, same seed → the same answers', () => {
      const data = split.data.slice(0, 2_000);
      const a = build()(data, { seed: 7 });
      const b = build()(data, { seed: 7 });
      for (const q of split.queries.slice(0, 50)) expect(a.search(q, K)).toEqual(b.search(q, K));
      a.close();
      b.close();
    });

    it('returns every vector when k > n, and rejects a query of the wrong dimension', () => {
      const small = build()(split.data.slice(0, 5));
      expect(new Set(small.search(split.queries[0], 50).map((h) => h.label))).toEqual(new Set([0, 1, 2, 3, 4]));
      let err: unknown;
      try {
        small.search(new Float32Array(3), 1);
      } catch (e) {
        err = e;
      }
      expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
      small.close();
    });
  });
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  sharedChecks(`buildIndex (${name})`, () => impl.buildIndex);

  it.skipIf(name !== 'before')('exact search equals a brute-force reference (ids, scores within 1e-5)', () => {
    const data = split.data.slice(0, 3_000);
    const exact = impl.buildIndex(data);
    for (const q of split.queries.slice(0, 20)) {
      const want = bruteForce(data, q, K);
      const got = exact.search(q, K);
      expect(got.map((h) => h.label)).toEqual(want.map((h) => h.label));
      got.forEach((h, i) => expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-5));
    }
  });
});

sharedChecks('usearch (variants.ts)', () => buildUsearchIndex);

describe('the ground truth', () => {
  it('comes from a split whose queries are not in the data', () => {
    const words = new Set(split.words);
    expect(split.queryWords.filter((w) => words.has(w))).toEqual([]);
    expect(split.data).toHaveLength(10_000);
  });

  it('is the brute-force top-10', () => {
    for (let i = 0; i < 5; i++) expect(truth[i]).toEqual(bruteForce(split.data, split.queries[i], K).map((h) => h.label));
  });
});
