import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlatIndex } from './flat.ts';
import { CompactHnswIndex as HnswIndex } from './hnsw-i8.ts';
import { clustered, DIM, hnswSuite } from './hnsw-suite.ts';

describe('CompactHnswIndex (int8 vectors)', () => {
  // The behaviour shared with HnswIndex (hnsw-suite.ts). int8 codes: scores within the quantisation error of the
  // cosine; the JavaScript insertion is slower than hnswlib's, so the recall test indexes half as many words.
  hnswSuite({
    Index: HnswIndex,
    gloveWords: 10_500,
    gloveTimeout: 400_000,
    cosineTolerance: 0.01,
    selfScoreDigits: 2,
    tmpPrefix: 'hnsw-i8-test-',
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('rejects a truncated file with RagError CORRUPT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hnsw-i8-test-'));
    dirs.push(dir);
    const small = new HnswIndex({ dim: 4 });
    small.add([1], [new Float32Array([1, 0, 0, 0])]);
    await small.save(join(dir, 's.idx'));
    const bytes = await readFile(join(dir, 's.idx'));
    await writeFile(join(dir, 't.idx'), bytes.subarray(0, bytes.length - 8));
    await expect(small.load(join(dir, 't.idx'))).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('takes over the graph of a saved hnswlib index (same links, vectors quantised), with its recall', async () => {
    const { HnswIndex: Hnswlib } = await import('./hnsw.ts');
    const vecs = clustered(3000, 9);
    const labels = vecs.map((_, i) => 10 + 2 * i);
    const native = new Hnswlib({ dim: DIM, initialCapacity: 3000 });
    native.add(labels, vecs);
    native.remove([10, 12]);
    const dir = await mkdtemp(join(tmpdir(), 'hnsw-i8-test-'));
    dirs.push(dir);
    await native.save(join(dir, 'native.idx'));
    const converted = await HnswIndex.fromHnswlib(join(dir, 'native.idx'), { dim: DIM });
    expect(converted.size).toBe(2998);
    expect(converted.has(10)).toBe(false);
    const exact = new FlatIndex({ dim: DIM });
    exact.add(labels.slice(2), vecs.slice(2));
    const queries = clustered(100, 10);
    const recall = (ann: { search(q: Float32Array, k: number): { label: number }[] }) => {
      let hit = 0;
      for (const q of queries) {
        const truth = new Set(exact.search(q, 10).map((h) => h.label));
        for (const h of ann.search(q, 10)) if (truth.has(h.label)) hit++;
      }
      return hit / (10 * queries.length);
    };
    expect(recall(converted)).toBeGreaterThanOrEqual(recall(native) - 0.02);
    expect(converted.search(vecs[500], 1)[0].label).toBe(labels[500]);
    // it round-trips through its own format, and takes new vectors
    await converted.save(join(dir, 'i8.idx'));
    const back = new HnswIndex({ dim: DIM });
    await back.load(join(dir, 'i8.idx'));
    for (const q of queries.slice(0, 20)) expect(back.search(q, 10)).toEqual(converted.search(q, 10));
    back.add([1], [vecs[0]]);
    expect(back.search(vecs[0], 1)[0].label).toBe(1); // label 10, with the same vector, was removed
  });

  it('holds about a quarter of what hnswlib holds per vector', () => {
    const vecs = clustered(4000, 7);
    const idx = new HnswIndex({ dim: 100 > DIM ? DIM : 100, initialCapacity: 4000 });
    idx.add(vecs.map((_, i) => i), vecs);
    const bytes = idx.memory().reduce((s, p) => s + p.bytes, 0);
    // int8 codes + scale + 2M links + per-node bookkeeping; hnswlib: float32 vector + the same links + ~70 B
    expect(bytes / 4000).toBeLessThan(DIM + 4 + 32 * 4 + 40);
  });

  it('stages, reveals and discards like HnswIndex; searchAmong ranks exactly by the stored codes', async () => {
    const vecs = clustered(500, 8);
    const idx = new HnswIndex({ dim: DIM, seed: 1 });
    idx.add(vecs.slice(0, 400).map((_, i) => i), vecs.slice(0, 400));
    idx.stage([400, 401], [vecs[400], vecs[401]]);
    expect(idx.size).toBe(400);
    expect(idx.staged).toBe(2);
    expect(idx.search(vecs[400], 5).some((h) => h.label >= 400)).toBe(false);
    idx.reveal([400]);
    idx.discard([401]);
    expect(idx.search(vecs[400], 1)[0].label).toBe(400);
    expect(idx.search(vecs[401], 20).some((h) => h.label === 401)).toBe(false);
    expect(() => idx.reveal([401])).toThrow(/not staged/);
    const among = [3, 9, 27, 81, 243, 401, 9999];
    const got = idx.searchAmong(vecs[9], among, 3);
    const byScan = among.filter((l) => idx.has(l)).map((l) => ({ label: l, score: idx.searchAmong(vecs[9], [l], 1)[0].score })).sort((a, b) => b.score - a.score || a.label - b.label);
    expect(got).toEqual(byScan.slice(0, 3));
    expect(got[0].label).toBe(9);
    // staged labels are saved deleted
    idx.stage([450], [vecs[450]]);
    const dir = await mkdtemp(join(tmpdir(), 'hnsw-i8-test-'));
    dirs.push(dir);
    await idx.save(join(dir, 'x.idx'));
    const back = new HnswIndex({ dim: DIM });
    await back.load(join(dir, 'x.idx'));
    expect(back.size).toBe(401);
    expect(back.search(vecs[450], 20).some((h) => h.label === 450)).toBe(false);
  });
});
