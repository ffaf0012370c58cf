import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGlove } from '../embed/glove-cache.ts';
import { isRagError } from '../errors.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { FlatIndex } from './flat.ts';
import { CompactHnswIndex as HnswIndex } from './hnsw-i8.ts';

const DIM = 32;

/** Seeded clustered gaussian data: 20 centres, points scattered around them (what real embeddings look like). */
function clustered(n: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  const centres = Array.from({ length: 20 }, () => Float32Array.from({ length: DIM }, g));
  return Array.from({ length: n }, (_, i) => {
    const c = centres[i % centres.length];
    return Float32Array.from({ length: DIM }, (_, j) => c[j] + 0.4 * g());
  });
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

function recallAt(k: number, ann: HnswIndex, exact: FlatIndex, queries: Float32Array[]): number {
  let hit = 0;
  for (const q of queries) {
    const truth = new Set(exact.search(q, k).map((h) => h.label));
    for (const h of ann.search(q, k)) if (truth.has(h.label)) hit++;
  }
  return hit / (k * queries.length);
}

describe('CompactHnswIndex (int8 vectors)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('reaches recall@10 >= 0.95 against exact float32 search on 10k GloVe word vectors (held-out words as queries)', async () => {
    const glove = await loadGlove();
    // ann-benchmarks glove-100 style: the 10,500 most frequent words, every 21st held out as a query.
    const data: Float32Array[] = [];
    const labels: number[] = [];
    const queries: Float32Array[] = [];
    for (let r = 0; r < 10_500; r++) {
      const v = glove.vectors.subarray(r * 100, (r + 1) * 100);
      if (r % 21 === 20) queries.push(v);
      else {
        data.push(v);
        labels.push(r);
      }
    }
    expect(data.length).toBe(10_000);
    const ann = new HnswIndex({ dim: 100 });
    ann.add(labels, data);
    const exact = new FlatIndex({ dim: 100 });
    exact.add(labels, data);
    const recall = recallAt(10, ann, exact, queries);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    // Scores are cosine similarities, like FlatIndex's: each hit's, against the cosine computed here.
    const q = queries[0];
    const hits = ann.search(q, 10);
    expect(hits).toHaveLength(10);
    // int8 codes: within the quantisation error of the cosine
    for (const h of hits) expect(Math.abs(h.score - cosine(q, data[labels.indexOf(h.label)]))).toBeLessThan(0.01);

    // A per-call beam width changes that call only: a narrow beam loses recall, the default comes back after it.
    const narrow = queries.map((v) => ann.search(v, 10, undefined, 10));
    let narrowHit = 0;
    queries.forEach((v, i) => {
      const truth = new Set(exact.search(v, 10).map((h) => h.label));
      narrowHit += narrow[i].filter((h) => truth.has(h.label)).length;
    });
    expect(narrowHit / (10 * queries.length)).toBeLessThan(recall);
    expect(ann.ef).toBe(160);
    expect(recallAt(10, ann, exact, queries)).toBe(recall);
  }, 400_000);

  it('grows past its initial capacity', () => {
    const vecs = clustered(1000, 1);
    const idx = new HnswIndex({ dim: DIM, initialCapacity: 10 });
    idx.add(vecs.slice(0, 5).map((_, i) => i), vecs.slice(0, 5));
    for (let i = 5; i < 1000; i += 100) {
      const batch = vecs.slice(i, i + 100);
      idx.add(batch.map((_, j) => i + j), batch);
    }
    expect(idx.size).toBe(1000);
    expect(idx.capacity).toBeGreaterThanOrEqual(1000);
    expect(idx.search(vecs[777], 1)[0].label).toBe(777);
  });

  it('never returns deleted labels, and a deleted label can be added again', () => {
    const vecs = clustered(600, 2);
    const idx = new HnswIndex({ dim: DIM, initialCapacity: 64 });
    idx.add(vecs.map((_, i) => i), vecs);
    const gone = new Set(vecs.map((_, i) => i).filter((i) => i % 2 === 1));
    idx.remove([...gone, 5000]);
    expect(idx.size).toBe(300);
    for (let i = 0; i < vecs.length; i += 7) {
      for (const h of idx.search(vecs[i], 20)) expect(gone.has(h.label)).toBe(false);
    }
    // k is clamped to live vectors
    expect(idx.search(vecs[0], 10_000)).toHaveLength(300);
    // re-add a deleted label with a new vector
    idx.add([1], [vecs[2]]);
    expect(idx.size).toBe(301);
    const labels = idx.search(vecs[2], 2).map((h) => h.label).sort((a, b) => a - b);
    expect(labels).toEqual([1, 2]);
  });

  it('add with a live label replaces its vector', () => {
    const vecs = clustered(200, 3);
    const idx = new HnswIndex({ dim: DIM });
    idx.add(vecs.map((_, i) => i), vecs);
    const fresh = Float32Array.from({ length: DIM }, (_, j) => (j % 2 ? 5 : -5));
    idx.add([10], [fresh]);
    expect(idx.size).toBe(200);
    const [top] = idx.search(fresh, 1);
    expect(top.label).toBe(10);
    expect(top.score).toBeCloseTo(1, 2);
  });

  it('applies the filter during search', () => {
    const vecs = clustered(800, 4);
    const idx = new HnswIndex({ dim: DIM });
    idx.add(vecs.map((_, i) => i), vecs);
    const mult3 = (l: number) => l % 3 === 0;
    for (let i = 0; i < 800; i += 50) {
      const hits = idx.search(vecs[i], 10, mult3);
      expect(hits.length).toBe(10);
      expect(hits.every((h) => mult3(h.label))).toBe(true);
    }
  });

  it('saves and loads: same results, same size, deletes and efSearch survive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hnsw-i8-test-'));
    dirs.push(dir);
    const vecs = clustered(1500, 5);
    const idx = new HnswIndex({ dim: DIM, initialCapacity: 100 });
    idx.add(vecs.map((_, i) => i), vecs);
    idx.remove([0, 1, 2, 3]);
    idx.setEfSearch(40);
    const file = join(dir, 'h.idx');
    await idx.save(file);
    const back = new HnswIndex({ dim: DIM });
    await back.load(file);
    expect(back.size).toBe(1496);
    expect(back.ef).toBe(40);
    const queries = clustered(30, 6);
    for (const q of queries) expect(back.search(q, 10)).toEqual(idx.search(q, 10));
    for (let i = 0; i < 4; i++) expect(back.search(vecs[i], 5).some((h) => h.label < 4)).toBe(false);
    back.add([0], [vecs[0]]);
    expect(back.search(vecs[0], 1)[0].label).toBe(0);
  });

  it('rejects a wrong dimension with RagError INVALID_INPUT', async () => {
    const idx = new HnswIndex({ dim: DIM });
    expect(() => idx.add([1], [new Float32Array(DIM - 1)])).toThrow(/dim 31, index has dim 32/);
    try {
      idx.search(new Float32Array(5), 3);
      expect.unreachable();
    } catch (err) {
      expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
    }
    const dir = await mkdtemp(join(tmpdir(), 'hnsw-i8-test-'));
    dirs.push(dir);
    const small = new HnswIndex({ dim: 4 });
    small.add([1], [new Float32Array([1, 0, 0, 0])]);
    await small.save(join(dir, 's.idx'));
    await expect(idx.load(join(dir, 's.idx'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(idx.load(join(dir, 'missing.idx'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const { writeFile, readFile } = await import('node:fs/promises');
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
