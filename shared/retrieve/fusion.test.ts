import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import { fuse, fuseTopK, reciprocalRankFusion, weightedScoreFusion, type FusionOptions } from './fusion.ts';

const bm25 = [
  { label: 1, score: 9 },
  { label: 2, score: 5 },
  { label: 3, score: 1 },
];
const dense = [
  { label: 3, score: 0.9 },
  { label: 1, score: 0.8 },
  { label: 4, score: 0.1 },
];

describe('reciprocal rank fusion', () => {
  it('sums w / (k + rank) over lists', () => {
    const out = reciprocalRankFusion([bm25, dense], 60);
    const byLabel = new Map(out.map((f) => [f.label, f.score]));
    expect(byLabel.get(1)).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(byLabel.get(3)).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(byLabel.get(4)).toBeCloseTo(1 / 63, 12);
    expect(out[0].label).toBe(1);
    expect(out.map((f) => f.label)).toEqual([1, 3, 2, 4]);
  });
  it('keeps each source score and marks missing ones undefined', () => {
    const out = reciprocalRankFusion([bm25, dense], 60);
    expect(out.find((f) => f.label === 2)!.sources).toEqual([5, undefined]);
    expect(out.find((f) => f.label === 3)!.sources).toEqual([1, 0.9]);
  });
  it('weights lists', () => {
    const out = reciprocalRankFusion([bm25, dense], 60, [0, 1]);
    expect(out[0].label).toBe(3);
  });
});

describe('weighted score fusion', () => {
  it('min-max normalises each list before the weighted sum', () => {
    const out = weightedScoreFusion([bm25, dense], [1, 0.5]);
    const byLabel = new Map(out.map((f) => [f.label, f.score]));
    expect(byLabel.get(1)).toBeCloseTo(1 + 0.5 * (0.7 / 0.8), 12);
    expect(byLabel.get(3)).toBeCloseTo(0 + 0.5 * 1, 12);
    expect(byLabel.get(2)).toBeCloseTo(0.5, 12);
    expect(byLabel.get(4)).toBeCloseTo(0, 12);
  });
  it('handles an empty list and a list of equal scores', () => {
    const out = weightedScoreFusion([[], [{ label: 7, score: 0.3 }, { label: 8, score: 0.3 }]]);
    expect(out.map((f) => [f.label, f.score])).toEqual([[7, 1], [8, 1]]);
  });
});

describe('fuse', () => {
  it('defaults to RRF with k = 60', () => {
    expect(fuse([bm25, dense])).toEqual(reciprocalRankFusion([bm25, dense], 60));
  });
});

describe('fuseTopK', () => {
  /** A ranked list of `n` distinct labels from [0, space), scores on a coarse grid (so ties happen), best first. */
  function list(rand: () => number, n: number, space: number) {
    const labels = new Set<number>();
    while (labels.size < n) labels.add(Math.floor(rand() * space));
    return [...labels].map((label) => ({ label, score: Math.floor(rand() * 8) / 2 })).sort((a, b) => b.score - a.score);
  }

  it('returns exactly fuse(lists).slice(0, k), call after call, for both methods, any k and any number of lists', () => {
    const rand = mulberry32(21);
    const options: FusionOptions[] = [{}, { method: 'rrf', rrfK: 10, weights: [1, 0.5, 2] }, { method: 'weighted', weights: [1, 0.3] }, { method: 'weighted' }];
    for (let trial = 0; trial < 60; trial++) {
      const nLists = 1 + (trial % 3);
      const lists = Array.from({ length: nLists }, () => list(rand, Math.floor(rand() * 120), 200 + Math.floor(rand() * 2000)));
      const opts = options[trial % options.length];
      const k = [1, 5, 10, 50, 1000][trial % 5];
      expect(fuseTopK(lists, k, opts)).toEqual(fuse(lists, opts).slice(0, k));
    }
  });

  it('handles empty input and rejects a bad k', () => {
    expect(fuseTopK([], 5)).toEqual([]);
    expect(fuseTopK([[], []], 5)).toEqual([]);
    expect(fuseTopK([bm25, dense], 10)).toEqual(fuse([bm25, dense]));
    expect(() => fuseTopK([bm25], 0)).toThrow(RangeError);
  });
});
