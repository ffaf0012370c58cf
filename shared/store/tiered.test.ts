import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import { textCost } from './lru.ts';
import { TieredTextStore, type TextSource } from './tiered.ts';

const dir = await mkdtemp(join(tmpdir(), 'tiered-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const TEXTS = Array.from({ length: 500 }, (_, i) => `chunk ${i} `.repeat(10 + (i % 40)));

/** A cold source over TEXTS that counts its reads and answers after a timer (as a file would). */
function source(): TextSource & { reads: number } {
  return {
    size: TEXTS.length,
    reads: 0,
    read(i: number) {
      this.reads++;
      return new Promise((resolve) => setTimeout(() => resolve(TEXTS[i]), 0));
    },
  };
}

/** Skewed ids: half the reads go to 20 ids. */
function skewed(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => (rand() < 0.5 ? Math.floor(rand() * 20) : Math.floor(rand() * TEXTS.length)));
}

describe('TieredTextStore', () => {
  it('returns every text exactly, from the tier that holds it, within its memory budget', async () => {
    const cold = source();
    const budget = 20 * textCost(TEXTS[499]);
    const store = await TieredTextStore.open(cold, { memoryBytes: budget, warm: { file: join(dir, 'a.ring'), bytes: 40_000 } });
    const ids = skewed(3_000, 1);
    for (const id of ids) {
      expect(await store.get(id)).toBe(TEXTS[id]);
      expect(store.stats().memoryBytes).toBeLessThanOrEqual(budget);
    }
    const s = store.stats();
    expect(s.hot + s.warm + s.cold).toBe(ids.length);
    expect(s.cold).toBe(cold.reads);
    expect(s.hot).toBeGreaterThan(ids.length / 4);
    expect(s.warm).toBeGreaterThan(0);
    expect(s.peakMemoryBytes).toBeLessThanOrEqual(budget);
    expect(s.diskBytes).toBeLessThanOrEqual(40_000);
    await store.close();
    expect(existsSync(join(dir, 'a.ring'))).toBe(false);
  });

  it('shares one cold read among concurrent reads of the same missing text', async () => {
    const cold = source();
    const store = await TieredTextStore.open(cold, { memoryBytes: 100_000 });
    const got = await Promise.all(Array.from({ length: 10 }, () => store.get(7)));
    expect(got.every((t) => t === TEXTS[7])).toBe(true);
    expect(cold.reads).toBe(1);
    await store.close();
  });

  it('works without a warm tier, and rejects an id out of range', async () => {
    const cold = source();
    const store = await TieredTextStore.open(cold, { memoryBytes: 0 });
    expect(await store.get(3)).toBe(TEXTS[3]);
    expect(await store.get(3)).toBe(TEXTS[3]);
    expect(cold.reads).toBe(2); // nothing fits in 0 bytes
    await expect(store.get(500)).rejects.toThrow(/no text 500/);
    await expect(store.get(-1)).rejects.toThrow();
    await store.close();
  });

  it('uses the memory tier and the warm read buffers it is given', async () => {
    const cold = source();
    const seen: number[] = [];
    const nothing = { bytes: 0, peakBytes: 0, get: () => undefined, set: (i: number) => void seen.push(i) };
    let acquired = 0;
    let released = 0;
    const readBuffers = {
      acquire: (size: number) => (acquired++, Buffer.alloc(size)),
      release: () => void released++,
    };
    const store = await TieredTextStore.open(cold, { memoryBytes: 1_000_000, hot: nothing, warm: { file: join(dir, 'b.ring'), bytes: 100_000, readBuffers } });
    expect(await store.get(5)).toBe(TEXTS[5]); // cold, then written to the warm file (a read waits for its write)
    expect(await store.get(5)).toBe(TEXTS[5]); // the memory tier holds nothing: from the warm file
    const s = store.stats();
    expect([s.hot, s.warm, s.cold]).toEqual([0, 1, 1]);
    expect(seen).toEqual([5, 5]); // offered to the memory tier after each miss
    expect([acquired, released]).toEqual([1, 1]);
    await store.close();
  });
});
