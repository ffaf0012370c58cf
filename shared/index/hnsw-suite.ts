/**
 * The behaviour both HNSW indexes share, written once: `hnswSuite` adds the tests to the caller's `describe`, and
 * hnsw.test.ts (HnswIndex, hnswlib's float32 graph) and hnsw-i8.test.ts (CompactHnswIndex, int8 codes) each run it
 * for their class, beside the tests only their class has. What differs between the two is a parameter: how close a
 * score must come to the exact cosine (int8 codes carry a quantisation error), how many GloVe words the recall test
 * indexes (the JavaScript insertion is the slower) and its timeout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadGlove } from '../embed/glove-cache.ts';
import { isRagError } from '../errors.ts';
import type { ScoredLabel } from '../types.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { FlatIndex } from './flat.ts';
import type { CompactHnswIndex } from './hnsw-i8.ts';
import type { HnswIndex } from './hnsw.ts';

export const DIM = 32;

/** Seeded clustered gaussian data: 20 centres, points scattered around them (what real embeddings look like). */
export function clustered(n: number, seed: number): Float32Array[] {
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

function recallAt(k: number, ann: { search(q: Float32Array, k: number): ScoredLabel[] }, exact: FlatIndex, queries: Float32Array[]): number {
  let hit = 0;
  for (const q of queries) {
    const truth = new Set(exact.search(q, k).map((h) => h.label));
    for (const h of ann.search(q, k)) if (truth.has(h.label)) hit++;
  }
  return hit / (k * queries.length);
}

export interface HnswSuiteOptions {
  /** The class under test. */
  Index: new (opts: { dim: number; initialCapacity?: number }) => HnswIndex | CompactHnswIndex;
  /** GloVe words the recall test reads, every 21st held out as a query (21,000: 20k indexed, 1,000 queries). */
  gloveWords: number;
  /** Timeout of the GloVe recall test, ms (it builds the index). */
  gloveTimeout: number;
  /** How far a hit's score may be from the exact cosine of its vector and the query. */
  cosineTolerance: number;
  /** Decimal digits to which a vector searched for itself scores 1 (`toBeCloseTo`). */
  selfScoreDigits: number;
  /** Prefix of the temporary folders the save/load tests write to. */
  tmpPrefix: string;
}

/** Registers the shared tests in the current `describe`. */
export function hnswSuite(o: HnswSuiteOptions): void {
  const { Index } = o;
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), o.tmpPrefix));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const indexed = (o.gloveWords / 21) * 20;
  it(`reaches recall@10 >= 0.95 against exact float32 search on ${indexed / 1000}k GloVe word vectors (held-out words as queries)`, async () => {
    const glove = await loadGlove();
    // ann-benchmarks glove-100 style: the most frequent words, every 21st held out as a query.
    const data: Float32Array[] = [];
    const labels: number[] = [];
    const queries: Float32Array[] = [];
    for (let r = 0; r < o.gloveWords; r++) {
      const v = glove.vectors.subarray(r * 100, (r + 1) * 100);
      if (r % 21 === 20) queries.push(v);
      else {
        data.push(v);
        labels.push(r);
      }
    }
    expect(data.length).toBe(indexed);
    const ann = new Index({ dim: 100 });
    ann.add(labels, data);
    const exact = new FlatIndex({ dim: 100 });
    exact.add(labels, data);
    const recall = recallAt(10, ann, exact, queries);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    // Scores are cosine similarities, like FlatIndex's: each hit's, against the cosine computed here.
    const q = queries[0];
    const hits = ann.search(q, 10);
    expect(hits).toHaveLength(10);
    for (const h of hits) expect(Math.abs(h.score - cosine(q, data[labels.indexOf(h.label)]))).toBeLessThan(o.cosineTolerance);

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
  }, o.gloveTimeout);

  it('grows past its initial capacity', () => {
    const vecs = clustered(1000, 1);
    const idx = new Index({ dim: DIM, initialCapacity: 10 });
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
    const idx = new Index({ dim: DIM, initialCapacity: 64 });
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
    const idx = new Index({ dim: DIM });
    idx.add(vecs.map((_, i) => i), vecs);
    const fresh = Float32Array.from({ length: DIM }, (_, j) => (j % 2 ? 5 : -5));
    idx.add([10], [fresh]);
    expect(idx.size).toBe(200);
    const [top] = idx.search(fresh, 1);
    expect(top.label).toBe(10);
    expect(top.score).toBeCloseTo(1, o.selfScoreDigits);
  });

  it('applies the filter during search', () => {
    const vecs = clustered(800, 4);
    const idx = new Index({ dim: DIM });
    idx.add(vecs.map((_, i) => i), vecs);
    const mult3 = (l: number) => l % 3 === 0;
    for (let i = 0; i < 800; i += 50) {
      const hits = idx.search(vecs[i], 10, mult3);
      expect(hits.length).toBe(10);
      expect(hits.every((h) => mult3(h.label))).toBe(true);
    }
  });

  it('saves and loads: same results, same size, deletes and efSearch survive', async () => {
    const dir = await tempDir();
    const vecs = clustered(1500, 5);
    const idx = new Index({ dim: DIM, initialCapacity: 100 });
    idx.add(vecs.map((_, i) => i), vecs);
    idx.remove([0, 1, 2, 3]);
    idx.setEfSearch(40);
    const file = join(dir, 'h.idx');
    await idx.save(file);
    const back = new Index({ dim: DIM });
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
    const idx = new Index({ dim: DIM });
    expect(() => idx.add([1], [new Float32Array(DIM - 1)])).toThrow(/dim 31, index has dim 32/);
    try {
      idx.search(new Float32Array(5), 3);
      expect.unreachable();
    } catch (err) {
      expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
    }
    const dir = await tempDir();
    const small = new Index({ dim: 4 });
    small.add([1], [new Float32Array([1, 0, 0, 0])]);
    await small.save(join(dir, 's.idx'));
    await expect(idx.load(join(dir, 's.idx'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(idx.load(join(dir, 'missing.idx'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
}
