import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import type { ScoredLabel } from '../types.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { FlatIndex } from './flat.ts';

const DIM = 24;

function randomVectors(n: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, g));
}

/** The obvious O(n·d) search with a full sort: the reference FlatIndex must agree with. */
function bruteForce(labels: number[], vecs: Float32Array[], q: Float32Array, k: number, filter?: (l: number) => boolean): ScoredLabel[] {
  const nq = Math.hypot(...q);
  return labels
    .map((label, i) => {
      const v = vecs[i];
      let dot = 0;
      for (let j = 0; j < DIM; j++) dot += v[j] * q[j];
      return { label, score: dot / (Math.hypot(...v) * nq) };
    })
    .filter((h) => !filter || filter(h.label))
    .sort((a, b) => b.score - a.score || a.label - b.label)
    .slice(0, k);
}

function expectSameHits(got: ScoredLabel[], want: ScoredLabel[]): void {
  expect(got.map((h) => h.label)).toEqual(want.map((h) => h.label));
  got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i].score, 5));
}

describe('FlatIndex', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('returns exactly the brute-force top-k by cosine, best first', () => {
    const vecs = randomVectors(700, 1);
    const labels = vecs.map((_, i) => i * 3 + 7);
    const idx = new FlatIndex({ dim: DIM, initialCapacity: 8 }); // grows several times
    idx.add(labels, vecs);
    expect(idx.size).toBe(700);
    for (const q of randomVectors(20, 2)) expectSameHits(idx.search(q, 10), bruteForce(labels, vecs, q, 10));
  });

  it('finds a stored vector as its own nearest neighbour with score 1', () => {
    const vecs = randomVectors(50, 3);
    const idx = new FlatIndex(DIM);
    idx.add(vecs.map((_, i) => i), vecs);
    const [top] = idx.search(vecs[17], 1);
    expect(top.label).toBe(17);
    expect(top.score).toBeCloseTo(1, 6);
  });

  it('clamps k to the number of vectors and returns [] for k <= 0 or an empty index', () => {
    const idx = new FlatIndex(DIM);
    expect(idx.search(randomVectors(1, 4)[0], 5)).toEqual([]);
    idx.add([1, 2, 3], randomVectors(3, 5));
    expect(idx.search(randomVectors(1, 6)[0], 100)).toHaveLength(3);
    expect(idx.search(randomVectors(1, 6)[0], 0)).toEqual([]);
  });

  it('removes by swap-with-last: removed labels disappear, the others keep their vectors', () => {
    const vecs = randomVectors(200, 7);
    const labels = vecs.map((_, i) => i);
    const idx = new FlatIndex(DIM);
    idx.add(labels, vecs);
    const gone = new Set([0, 5, 199, 100, 42, 43, 12345]);
    idx.remove([...gone]);
    expect(idx.size).toBe(200 - 6);
    const keptLabels = labels.filter((l) => !gone.has(l));
    const keptVecs = keptLabels.map((l) => vecs[l]);
    for (const q of randomVectors(15, 8)) expectSameHits(idx.search(q, 20), bruteForce(keptLabels, keptVecs, q, 20));
    expect(idx.has(5)).toBe(false);
    expect(idx.has(6)).toBe(true);
  });

  it('add with an existing label replaces its vector', () => {
    const [a, b, c] = randomVectors(3, 9);
    const idx = new FlatIndex(DIM);
    idx.add([1, 2], [a, b]);
    idx.add([1], [c]);
    expect(idx.size).toBe(2);
    const [top] = idx.search(c, 1);
    expect(top.label).toBe(1);
    expect(top.score).toBeCloseTo(1, 6);
  });

  it('applies the filter before scoring: only accepted labels come back', () => {
    const vecs = randomVectors(300, 10);
    const labels = vecs.map((_, i) => i);
    const idx = new FlatIndex(DIM);
    idx.add(labels, vecs);
    const even = (l: number) => l % 2 === 0;
    for (const q of randomVectors(10, 11)) {
      const hits = idx.search(q, 10, even);
      expect(hits.every((h) => even(h.label))).toBe(true);
      expectSameHits(hits, bruteForce(labels, vecs, q, 10, even));
    }
    expect(idx.search(vecs[0], 10, () => false)).toEqual([]);
  });

  it('stores a zero vector as zero (it scores 0 against every query)', () => {
    const idx = new FlatIndex(DIM);
    const [a] = randomVectors(1, 12);
    idx.add([1, 2], [new Float32Array(DIM), a]);
    const hits = idx.search(a, 2);
    expect(hits[1]).toEqual({ label: 1, score: 0 });
  });

  it('saves and loads: the loaded index gives identical results and accepts further edits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flat-test-'));
    dirs.push(dir);
    const vecs = randomVectors(400, 13);
    const idx = new FlatIndex(DIM);
    idx.add(vecs.map((_, i) => i), vecs);
    idx.remove([3, 4, 5]);
    const file = join(dir, 'flat.idx');
    await idx.save(file);
    const back = new FlatIndex(DIM);
    await back.load(file);
    expect(back.size).toBe(idx.size);
    for (const q of randomVectors(10, 14)) expect(back.search(q, 10)).toEqual(idx.search(q, 10));
    back.add([1000], [vecs[0]]);
    expect(back.size).toBe(idx.size + 1);
  });

  it('rejects a wrong dimension, bad labels and bad files with RagError', async () => {
    const idx = new FlatIndex(DIM);
    const bad = (f: () => unknown, code: string) => {
      try {
        f();
      } catch (err) {
        expect(isRagError(err, code)).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected a RagError');
    };
    expect(bad(() => idx.add([1], [new Float32Array(DIM + 1)]), 'INVALID_INPUT')).toMatch(/dim 25.*dim 24/);
    expect(bad(() => idx.search(new Float32Array(3), 5), 'INVALID_INPUT')).toMatch(/dim 3/);
    bad(() => idx.add([-1], [new Float32Array(DIM)]), 'INVALID_INPUT');
    bad(() => idx.add([1.5], [new Float32Array(DIM)]), 'INVALID_INPUT');
    bad(() => idx.add([1, 2], [new Float32Array(DIM)]), 'INVALID_INPUT');

    const dir = await mkdtemp(join(tmpdir(), 'flat-test-'));
    dirs.push(dir);
    const junk = join(dir, 'junk.idx');
    await writeFile(junk, 'not an index at all');
    await expect(idx.load(junk)).rejects.toMatchObject({ code: 'CORRUPT' });
    await expect(idx.load(join(dir, 'missing.idx'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const other = new FlatIndex(8);
    other.add([1], [new Float32Array(8).fill(1)]);
    await other.save(join(dir, 'd8.idx'));
    await expect(idx.load(join(dir, 'd8.idx'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('reuses its search buffers without one search seeing another: any order, any k, zero queries, nested searches', () => {
    const vecs = randomVectors(300, 11);
    const labels = vecs.map((_, i) => i);
    const idx = new FlatIndex(DIM);
    idx.add(labels, vecs);
    const queries = randomVectors(6, 12);
    // a zero query after a real one must score 0 everywhere (the reused query buffer is cleared)
    idx.search(queries[0], 5);
    expect(idx.search(new Float32Array(DIM), 3).map((h) => [h.label, h.score])).toEqual([[0, 0], [1, 0], [2, 0]]);
    for (const [i, q] of queries.entries()) {
      const k = [1, 50, 7, 300, 2, 9][i];
      expectSameHits(idx.search(q, k), bruteForce(labels, vecs, q, k));
      const among = [5, 250, 17, 5, 299, 100];
      const unique = [...new Set(among)];
      expectSameHits(idx.searchAmong(q, among, k), bruteForce(unique, unique.map((l) => vecs[l]), q, k));
    }
    // a filter that searches the same index from inside a search: both get what they would alone
    const inner: ScoredLabel[][] = [];
    const outer = idx.search(queries[1], 10, (label) => {
      if (label % 100 === 0) inner.push(idx.search(queries[2], 4));
      return label % 2 === 0;
    });
    expectSameHits(outer, bruteForce(labels, vecs, queries[1], 10, (l) => l % 2 === 0));
    expect(inner).toHaveLength(3);
    for (const hits of inner) expectSameHits(hits, bruteForce(labels, vecs, queries[2], 4));
    // the hits a caller holds are its own
    const held = idx.search(queries[3], 5);
    const copy = held.map((h) => ({ ...h }));
    idx.search(queries[4], 5);
    expect(held).toEqual(copy);
  });
});
