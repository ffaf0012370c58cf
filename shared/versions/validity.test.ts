import { describe, expect, it } from 'vitest';
import { OPEN, ValidityTable } from './validity.ts';

describe('validity table', () => {
  it('answers which labels are live at each version', () => {
    const t = new ValidityTable();
    t.open(0, 1);
    t.open(1, 1);
    t.close(1, 3);
    t.open(2, 3);
    expect(t.labelsAt(0)).toEqual([]);
    expect(t.labelsAt(1)).toEqual([0, 1]);
    expect(t.labelsAt(2)).toEqual([0, 1]);
    expect(t.labelsAt(3)).toEqual([0, 2]);
    expect(t.isLiveAt(1, 2)).toBe(true);
    expect(t.isLiveAt(1, 3)).toBe(false);
    expect(t.live).toBe(2);
  });

  it('a rollback is a new version: the old versions keep their answers', () => {
    const t = new ValidityTable();
    t.open(0, 1);
    t.open(1, 1);
    t.close(1, 2);
    t.open(2, 2);
    t.close(0, 3);
    const before = [1, 2, 3].map((v) => t.labelsAt(v));
    const { opened, closed } = t.restore(1, 4);
    expect(opened).toEqual([0, 1]);
    expect(closed).toEqual([2]);
    expect(t.labelsAt(4)).toEqual(t.labelsAt(1));
    expect([1, 2, 3].map((v) => t.labelsAt(v))).toEqual(before);
    expect(t.rows).toBe(5);
  });

  it('refuses to open a live label or close a dead one', () => {
    const t = new ValidityTable();
    t.open(5, 1);
    expect(() => t.open(5, 2)).toThrow(/live already/);
    expect(() => t.close(4, 2)).toThrow(/not live/);
    expect(() => t.close(5, 0)).toThrow(/before it began/);
    expect(() => t.open(-1, 1)).toThrow(/integer/);
    expect(() => t.open(1, OPEN)).toThrow(/integer/);
  });

  it('grows past its first capacity', () => {
    const t = new ValidityTable();
    for (let l = 0; l < 1_000; l++) t.open(l, l);
    for (let l = 0; l < 1_000; l += 2) t.close(l, 1_000);
    expect(t.labelsAt(999)).toHaveLength(1_000);
    expect(t.labelsAt(1_000)).toHaveLength(500);
  });

  it('prune forgets rows that ended before the horizon and names labels no row refers to', () => {
    const t = new ValidityTable();
    t.open(0, 1);
    t.open(1, 1);
    t.close(0, 2);
    t.open(2, 2);
    t.close(2, 5);
    t.open(0, 6);
    expect(t.prune(3)).toEqual([]); // label 0 is live again from 6
    expect(t.rows).toBe(3);
    expect(t.labelsAt(4)).toEqual([1, 2]);
    expect(t.prune(5)).toEqual([2]);
    expect(t.labelsAt(6)).toEqual([0, 1]);
    t.close(0, 7);
    expect(t.isOpen(0)).toBe(false);
  });
});
