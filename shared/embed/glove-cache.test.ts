import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setFileLoading } from '../index/mmap.ts';
import { clearGloveMemo, defaultGloveSource, loadGlove, openGloveLookup } from './glove-cache.ts';

/** A tiny file in the wink-embeddings layout: vectors[word] = [...dim floats, l2norm, rank]. */
function winkJson(words: string[], dim: number): string {
  const vectors: Record<string, number[]> = {};
  words.forEach((w, r) => {
    const v = Array.from({ length: dim }, (_, j) => (r + 1) * 0.5 + j * 0.25);
    vectors[w] = [...v, Math.hypot(...v), r];
  });
  return JSON.stringify({ precision: 8, l2NormIndex: dim, wordIndex: dim + 1, size: words.length, dimensions: dim, words, vectors, unkVector: [] });
}

const WORDS = ['the', ',', 'of', 'naïve', '"', 'zsombor'];

describe('glove cache', () => {
  let dir: string;
  let source: string;
  beforeEach(async () => {
    clearGloveMemo();
    dir = await mkdtemp(join(tmpdir(), 'glove-test-'));
    source = join(dir, 'tiny.json');
    await writeFile(source, winkJson(WORDS, 4));
  });
  afterEach(async () => {
    clearGloveMemo();
    await rm(dir, { recursive: true, force: true });
  });

  it('converts the JSON into words in rank order, a rank index and a rank-major matrix', async () => {
    const logs: string[] = [];
    const g = await loadGlove({ cacheDir: join(dir, 'cache'), source, log: (m) => logs.push(m) });
    expect(g.dim).toBe(4);
    expect(g.count).toBe(WORDS.length);
    expect(g.words).toEqual(WORDS);
    expect(g.index.get('naïve')).toBe(3);
    expect(Array.from(g.vectors.subarray(3 * 4, 4 * 4))).toEqual([2, 2.25, 2.5, 2.75]);
    expect(existsSync(join(dir, 'cache', 'glove-100d.bin'))).toBe(true);
    expect(logs.some((m) => m.includes('parsed'))).toBe(true);
  });

  it('later loads read the cache only (the JSON is no longer needed) and give identical vectors', async () => {
    const cacheDir = join(dir, 'cache');
    const first = await loadGlove({ cacheDir, source });
    clearGloveMemo();
    await rm(source);
    const second = await loadGlove({ cacheDir, source });
    expect(second.words).toEqual(first.words);
    expect(second.vectors).toEqual(first.vectors);
  });

  it('memoises: concurrent and repeated calls share one load', async () => {
    const cacheDir = join(dir, 'cache');
    const [a, b] = await Promise.all([loadGlove({ cacheDir, source }), loadGlove({ cacheDir, source })]);
    expect(a).toBe(b);
    expect(await loadGlove({ cacheDir, source })).toBe(a);
  });

  it('rebuilds a truncated cache', async () => {
    const cacheDir = join(dir, 'cache');
    const bin = join(cacheDir, 'glove-100d.bin');
    await loadGlove({ cacheDir, source });
    const full = (await stat(bin)).size;
    await truncate(bin, full - 3);
    clearGloveMemo();
    const logs: string[] = [];
    const g = await loadGlove({ cacheDir, source, log: (m) => logs.push(m) });
    expect(logs.some((m) => m.includes('invalid'))).toBe(true);
    expect(g.words).toEqual(WORDS);
    expect((await stat(bin)).size).toBe(full);
  });

  it('rebuilds when the vocab file does not belong to the matrix', async () => {
    const cacheDir = join(dir, 'cache');
    await loadGlove({ cacheDir, source });
    const vocab = join(cacheDir, 'glove-100d.vocab');
    await writeFile(vocab, (await readFile(vocab, 'utf8')).replace('the', 'thx'));
    clearGloveMemo();
    const g = await loadGlove({ cacheDir, source });
    expect(g.words[0]).toBe('the');
  });

  it('rebuilds a cache with a bad magic', async () => {
    const cacheDir = join(dir, 'cache');
    await loadGlove({ cacheDir, source });
    const bin = join(cacheDir, 'glove-100d.bin');
    const buf = await readFile(bin);
    buf.write('XXXX', 0, 'ascii');
    await writeFile(bin, buf);
    clearGloveMemo();
    expect((await loadGlove({ cacheDir, source })).index.get('zsombor')).toBe(5);
  });

  it.each(['read', 'mmap'] as const)('int8 lookup (%s): every row within half its own int8 step of the float32 row, a quarter of the bytes, rebuilt when damaged', async (mode) => {
    const prev = setFileLoading(mode);
    try {
      const exact = await loadGlove({ cacheDir: dir, source });
      // hot 2: two rows in memory, the rest read by offset through the row cache
      const i8 = await openGloveLookup({ cacheDir: dir, source, hot: 2, precision: 'int8' });
      const f32 = await openGloveLookup({ cacheDir: dir, source, hot: 2 });
      const check = (lookup: typeof i8) => {
        for (let r = 0; r < WORDS.length; r++) {
          expect(lookup.rank(WORDS[r])).toBe(r);
          const out = new Float32Array(4);
          lookup.addScaled(r, 2, out);
          const row = exact.vectors.subarray(r * 4, r * 4 + 4);
          const step = Math.max(...row.map(Math.abs)) / 127;
          for (let j = 0; j < 4; j++) expect(Math.abs(out[j] / 2 - row[j]), `row ${r}[${j}]`).toBeLessThanOrEqual(step / 2 + 1e-7);
        }
      };
      check(i8);
      const bytes = (l: typeof i8) => l.memory().filter((m) => m.part.startsWith('word vectors')).reduce((a, m) => a + m.bytes, 0);
      // 4 + 4 code bytes a row instead of 16, plus the cache tags (int32 each, both forms)
      expect(bytes(i8) - 16_384 * 4).toBe((bytes(f32) - 16_384 * 4) / 2);
      // damaged int8 file: derived again from the float32 one, same rows
      await truncate(join(dir, 'glove-100d.i8.bin'), 40);
      clearGloveMemo();
      check(await openGloveLookup({ cacheDir: dir, source, hot: 2, precision: 'int8' }));
    } finally {
      setFileLoading(prev);
    }
  });

  it('rejects a file that is not a wink embeddings file', async () => {
    await writeFile(source, JSON.stringify({ hello: 1 }));
    await expect(loadGlove({ cacheDir: join(dir, 'cache'), source })).rejects.toThrow(/not a wink embeddings file/);
  });
});

const haveWink = (() => {
  try {
    return existsSync(defaultGloveSource());
  } catch {
    return false;
  }
})();

describe.skipIf(!haveWink)('the real GloVe-100d cache', () => {
  it('loads (building the cache once if needed) 341,479 words × 100 dims in frequency order', async () => {
    const g = await loadGlove();
    expect(g.dim).toBe(100);
    expect(g.count).toBe(341_479);
    expect(g.words[0]).toBe('the');
    expect(g.index.get('the')).toBe(0);
    expect(g.vectors[0]).toBeCloseTo(-0.038194, 6);
    expect(g.vectors.length).toBe(341_479 * 100);
  }, 180_000);
});
