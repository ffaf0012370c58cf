import { describe, expect, it } from 'vitest';
import { mrrAt, ndcgAt, recallAt } from './metrics.ts';

const judged = new Map([
  ['a', 2],
  ['b', 1],
  ['c', 0],
  ['d', -1],
]);

describe('ndcgAt', () => {
  it('is 1 for the ideal ranking and uses gain 2^g - 1 with a log2 discount', () => {
    expect(ndcgAt(10, ['a', 'b'], judged)).toBeCloseTo(1, 12);
    const dcg = 1 / Math.log2(2) + 3 / Math.log2(3); // b first, then a
    const idcg = 3 / Math.log2(2) + 1 / Math.log2(3);
    expect(ndcgAt(10, ['b', 'a', 'c'], judged)).toBeCloseTo(dcg / idcg, 12);
  });
  it('supports linear gain', () => {
    const dcg = 1 + 2 / Math.log2(3);
    const idcg = 2 + 1 / Math.log2(3);
    expect(ndcgAt(10, ['b', 'a'], judged, { gain: 'linear' })).toBeCloseTo(dcg / idcg, 12);
  });
  it('cuts at k and treats grades <= 0 and unjudged docs as not relevant', () => {
    expect(ndcgAt(1, ['c', 'a'], judged)).toBe(0);
    expect(ndcgAt(10, ['x', 'c', 'd'], judged)).toBe(0);
    expect(ndcgAt(10, ['a'], new Map([['a', 0]]))).toBe(0);
  });
});

describe('recallAt', () => {
  it('counts relevant (grade > 0) documents found in the top k', () => {
    expect(recallAt(10, ['c', 'd', 'a'], judged)).toBe(0.5);
    expect(recallAt(2, ['c', 'd', 'a'], judged)).toBe(0);
    expect(recallAt(10, ['b', 'a'], judged)).toBe(1);
    expect(recallAt(10, ['a'], new Map())).toBe(0);
  });
});

describe('mrrAt', () => {
  it('is the reciprocal rank of the first relevant document within k', () => {
    expect(mrrAt(10, ['x', 'c', 'b', 'a'], judged)).toBeCloseTo(1 / 3, 12);
    expect(mrrAt(2, ['x', 'c', 'b'], judged)).toBe(0);
    expect(mrrAt(10, ['a'], judged)).toBe(1);
  });
});
