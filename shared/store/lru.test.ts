import { describe, expect, it } from 'vitest';
import { ByteLru, ENTRY_OVERHEAD, textCost } from './lru.ts';

describe('ByteLru', () => {
  it('evicts the least recently used entries until the new one fits', () => {
    const lru = new ByteLru<string, number>(10);
    lru.set('a', 1, 4);
    lru.set('b', 2, 4);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3, 4); // evicts b
    expect(lru.has('b')).toBe(false);
    expect(lru.has('a') && lru.has('c')).toBe(true);
    expect(lru.bytes).toBe(8);
    expect(lru.evictions).toBe(1);
  });

  it('never holds more than its bound, not even while inserting', () => {
    const lru = new ByteLru<number, number>(100);
    for (let i = 0; i < 1_000; i++) {
      lru.set(i % 37, i, 1 + ((i * 7) % 30));
      expect(lru.bytes).toBeLessThanOrEqual(100);
    }
    expect(lru.peakBytes).toBeLessThanOrEqual(100);
  });

  it('replaces an existing key at its new cost, and refuses an entry larger than the bound', () => {
    const lru = new ByteLru<string, string>(10);
    lru.set('a', 'x', 3);
    lru.set('a', 'y', 5);
    expect(lru.bytes).toBe(5);
    expect(lru.size).toBe(1);
    expect(lru.set('big', 'z', 11)).toBe(false);
    expect(lru.has('big')).toBe(false);
    expect(lru.get('a')).toBe('y');
  });

  it('peek does not change recency; delete and clear release the bytes', () => {
    const lru = new ByteLru<string, number>(8);
    lru.set('a', 1, 4);
    lru.set('b', 2, 4);
    expect(lru.peek('a')).toBe(1);
    lru.set('c', 3, 4); // a is still the oldest
    expect(lru.has('a')).toBe(false);
    expect(lru.delete('b')).toBe(true);
    expect(lru.bytes).toBe(4);
    lru.clear();
    expect(lru.bytes).toBe(0);
    expect(() => new ByteLru(-1)).toThrow();
    expect(() => lru.set('x', 1, Number.NaN)).toThrow();
  });
});

describe('textCost', () => {
  it('charges a byte a character for Latin-1 text and two otherwise, plus the entry overhead', () => {
    expect(textCost('abc')).toBe(ENTRY_OVERHEAD + 3);
    expect(textCost('café')).toBe(ENTRY_OVERHEAD + 4);
    expect(textCost('λόγος')).toBe(ENTRY_OVERHEAD + 10);
    expect(textCost('')).toBe(ENTRY_OVERHEAD);
  });
});
