import { describe, expect, it } from 'vitest';
import { fuse, reciprocalRankFusion, weightedScoreFusion } from './fusion.ts';

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
