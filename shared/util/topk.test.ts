import { describe, expect, it } from 'vitest';
import { mulberry32 } from './random.ts';
import { TopK } from './topk.ts';

/** The k best of `entries` by score, equal scores by lower label: what TopK must return. */
function reference(entries: Array<[number, number]>, k: number): Array<{ label: number; score: number }> {
  return entries
    .map(([label, score]) => ({ label, score }))
    .sort((a, b) => b.score - a.score || a.label - b.label)
    .slice(0, k);
}

describe('TopK', () => {
  it('keeps the k best, best first, whatever order they come in', () => {
    const rand = mulberry32(3);
    for (const k of [1, 2, 5, 17]) {
      const entries: Array<[number, number]> = Array.from({ length: 300 }, (_, i) => [i, Math.round(rand() * 1000) / 10]);
      const top = new TopK(k);
      for (const [l, s] of entries) top.push(l, s);
      expect(top.drain()).toEqual(reference(entries, k));
    }
  });

  it("with ties: 'lower-label', keeps the lower labels at the k-th place, whatever order they come in", () => {
    const rand = mulberry32(5);
    for (let trial = 0; trial < 50; trial++) {
      const entries: Array<[number, number]> = Array.from({ length: 60 }, (_, i) => [i * 7 + 1, Math.floor(rand() * 4)]);
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [entries[i], entries[j]] = [entries[j], entries[i]];
      }
      const k = 1 + Math.floor(rand() * 20);
      const top = new TopK(k, { ties: 'lower-label' });
      for (const [l, s] of entries) top.push(l, s);
      expect(top.drain()).toEqual(reference(entries, k));
    }
  });

  it('by default keeps the first of equal scores at the k-th place: a candidate must beat the threshold', () => {
    const top = new TopK(2);
    top.push(9, 1);
    top.push(8, 2);
    top.push(3, 1); // equals the threshold: not taken, although its label is lower
    expect(top.drain()).toEqual([
      { label: 8, score: 2 },
      { label: 9, score: 1 },
    ]);
    const exact = new TopK(2, { ties: 'lower-label' });
    exact.push(9, 1);
    exact.push(8, 2);
    exact.push(3, 1);
    expect(exact.drain().map((h) => h.label)).toEqual([8, 3]);
  });

  it('can be reset and reused for another selection, growing only for a larger k', () => {
    const top = new TopK(4);
    for (let i = 0; i < 10; i++) top.push(i, i);
    expect(top.drain().map((h) => h.label)).toEqual([9, 8, 7, 6]);
    top.reset(2);
    expect(top.k).toBe(2);
    expect(top.capacity).toBe(4);
    for (let i = 0; i < 10; i++) top.push(i, -i);
    expect(top.drain().map((h) => h.label)).toEqual([0, 1]);
    top.push(5, 1);
    top.reset(8);
    expect(top.size).toBe(0);
    expect(top.capacity).toBe(8);
    for (let i = 0; i < 3; i++) top.push(i, i);
    expect(top.drain().map((h) => h.label)).toEqual([2, 1, 0]);
    expect(() => top.reset(0)).toThrow(RangeError);
  });

  it('reports the threshold a candidate must beat', () => {
    const top = new TopK(2);
    expect(top.threshold).toBe(-Infinity);
    top.push(1, 5);
    top.push(2, 3);
    expect(top.threshold).toBe(3);
    top.push(3, 4);
    expect(top.threshold).toBe(4);
  });

  it('drains into parallel arrays in the same order as drain', () => {
    const rand = mulberry32(9);
    const entries: Array<[number, number]> = Array.from({ length: 200 }, (_, i) => [i, Math.floor(rand() * 30)]);
    const a = new TopK(25);
    const b = new TopK(25);
    for (const [l, s] of entries) {
      a.push(l, s);
      b.push(l, s);
    }
    const labels = new Int32Array(25);
    const scores = new Float64Array(25);
    expect(b.drainInto(labels, scores)).toBe(25);
    const want = a.drain();
    expect(Array.from(labels)).toEqual(want.map((h) => h.label));
    expect(Array.from(scores)).toEqual(want.map((h) => h.score));
    expect(b.size).toBe(0);
    b.push(1, 1);
    expect(() => b.drainInto(new Int32Array(0), new Float64Array(0))).toThrow(RangeError);
  });
});
