import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { mulberry32 } from '../util/random.ts';
import { BlockFile, writeBlockFile } from './block-file.ts';
import { blockOf, packBlocks, TextBlocks } from './blocks.ts';

/** Prose-like texts of varied length, some non-ASCII, one empty, one far larger than a block. */
function texts(n: number, seed = 1): string[] {
  const rand = mulberry32(seed);
  const words = ['the', 'retrieval', 'of', 'chunks', 'café', 'naïve', 'λόγος', '検索', 'emoji 👩‍👩‍👧', 'index', 'vector'];
  const out = Array.from({ length: n }, () => {
    const len = 20 + Math.floor(rand() * 300);
    return Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]).join(' ');
  });
  out[5] = '';
  out[11] = 'z'.repeat(100_000);
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'blocks-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('packBlocks and TextBlocks', () => {
  const all = texts(400);

  it.each(['brotli', 'deflate'] as const)('returns every text exactly (%s)', (codec) => {
    const store = new TextBlocks(all, { codec, blockBytes: 8 * 1024 });
    expect(store.size).toBe(all.length);
    for (let i = 0; i < all.length; i++) expect(store.get(i)).toBe(all[i]);
    const rand = mulberry32(2);
    for (let r = 0; r < 200; r++) {
      const i = Math.floor(rand() * all.length);
      expect(store.get(i)).toBe(all[i]);
    }
  });

  it('closes a block once it reaches blockBytes, so a read decompresses about one block', () => {
    const store = new TextBlocks(all, { blockBytes: 8 * 1024 });
    store.get(0);
    expect(store.bytesDecompressed).toBeGreaterThanOrEqual(8 * 1024);
    expect(store.bytesDecompressed).toBeLessThan(8 * 1024 + 5_000);
    const d = store.bytesDecompressed;
    store.get(1); // same block, kept decompressed
    expect(store.bytesDecompressed).toBe(d);
  });

  it('compresses blocks better than texts one at a time', () => {
    const one = new TextBlocks(all.filter((_, i) => i !== 11), { blockBytes: 1 });
    const blocks = new TextBlocks(all.filter((_, i) => i !== 11));
    expect(blocks.bytes).toBeLessThan(one.bytes);
    expect(one.blocks).toBeGreaterThan(all.length - 3); // a text per block (an empty one joins the next)
  });

  it('finds the block of every text', () => {
    const p = packBlocks(all, { blockBytes: 4 * 1024 });
    for (let i = 0; i < all.length; i++) {
      const b = blockOf(p, i);
      expect(p.firstText[b]).toBeLessThanOrEqual(i);
      expect(p.firstText[b + 1]).toBeGreaterThan(i);
    }
  });

  it('handles no texts, and rejects bad options and indexes', () => {
    expect(new TextBlocks([]).size).toBe(0);
    expect(() => new TextBlocks(['a'], { blockBytes: 0 })).toThrow(/blockBytes/);
    expect(() => new TextBlocks(['a']).get(1)).toThrow(/no text 1/);
  });
});

describe('BlockFile', () => {
  const all = texts(300, 3);
  const file = join(dir, 'texts.blocks');

  it('reads every text back from the file, with reads in flight at once', async () => {
    const info = writeBlockFile(file, all, { blockBytes: 16 * 1024 });
    expect(info.fileBytes).toBeLessThan(info.rawBytes);
    const bf = await BlockFile.open(file);
    try {
      expect(bf.size).toBe(all.length);
      const got = await Promise.all(all.map((_, i) => bf.read(i)));
      got.forEach((t, i) => expect(t).toBe(all[i]));
      expect(bf.reads).toBe(all.length);
      expect(bf.memoryBytes).toBeLessThan(16 * all.length + 8 * 32 * 1024); // tables + at most 8 idle read buffers
      await expect(bf.read(all.length)).rejects.toThrow(/no text/);
    } finally {
      await bf.close();
    }
  });

  it('refuses a missing, foreign or truncated file', async () => {
    await expect(BlockFile.open(join(dir, 'none'))).rejects.toSatisfy((e) => isRagError(e, 'NOT_FOUND'));
    await writeFile(join(dir, 'foreign'), 'not a block file at all, just text');
    await expect(BlockFile.open(join(dir, 'foreign'))).rejects.toSatisfy((e) => isRagError(e, 'CORRUPT'));
    writeBlockFile(file, all);
    const { readFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'short'), (await readFile(file)).subarray(0, 200));
    await expect(BlockFile.open(join(dir, 'short'))).rejects.toSatisfy((e) => isRagError(e, 'CORRUPT'));
  });
});
