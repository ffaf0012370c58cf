import { describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { FlatIndex } from './flat.ts';
import { BinaryVectors, Int8Quantizer, Int8Vectors, normalizeInto, rescore, type RowReader } from './quantize.ts';

const DIM = 40;

function randomVectors(n: number, seed: number, dim = DIM): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, g));
}

function flatOf(vectors: Float32Array[]): FlatIndex {
  const flat = new FlatIndex({ dim: vectors[0].length, initialCapacity: vectors.length });
  flat.add(vectors.map((_, i) => i), vectors);
  return flat;
}

const readerOf = (flat: FlatIndex): RowReader => (row, out) => out.set(flat.vector(row)!);

describe('Int8Quantizer', () => {
  const vectors = randomVectors(500, 1);
  const q = Int8Quantizer.fit(vectors, DIM);

  it('learns a range per dimension that holds every normalised value', () => {
    const unit = new Float32Array(DIM);
    for (const v of vectors) {
      normalizeInto(v, unit);
      for (let d = 0; d < DIM; d++) {
        expect(unit[d]).toBeGreaterThanOrEqual(q.lo[d] - 1e-6);
        expect(unit[d]).toBeLessThanOrEqual(q.lo[d] + 255 * q.step[d] + 1e-6);
      }
    }
  });

  it('decodes every value to within half a step of the normalised original', () => {
    const codes = new Uint8Array(DIM);
    const back = new Float32Array(DIM);
    const unit = new Float32Array(DIM);
    for (const v of vectors.slice(0, 50)) {
      q.encode(v, codes);
      q.decode(codes, 0, back);
      normalizeInto(v, unit);
      for (let d = 0; d < DIM; d++) expect(Math.abs(back[d] - unit[d])).toBeLessThanOrEqual(q.step[d] / 2 + 1e-6);
    }
  });

  it('clamps values outside the learned range', () => {
    const narrow = Int8Quantizer.fit(vectors, DIM, { clip: 0.05 });
    const codes = new Uint8Array(DIM);
    const spike = new Float32Array(DIM);
    spike[0] = 1;
    narrow.encode(spike, codes);
    expect(codes[0]).toBe(255);
  });

  it('fits [-1, 1] without data, and rejects bad options and dimensions', () => {
    const empty = Int8Quantizer.fit([], 3);
    expect(Array.from(empty.lo)).toEqual([-1, -1, -1]);
    expect(() => Int8Quantizer.fit(vectors, DIM, { clip: 0.5 })).toThrow(/clip/);
    expect(() => q.encode(new Float32Array(3), new Uint8Array(3))).toThrow(/dim/);
  });
});

describe('Int8Vectors', () => {
  const vectors = randomVectors(2_000, 2);
  const queries = randomVectors(20, 3);
  const flat = flatOf(vectors);
  const codes = new Int8Vectors(Int8Quantizer.fit(vectors, DIM), 16); // grows past its initial capacity
  for (const v of vectors) codes.add(v);

  it('holds one byte per dimension', () => {
    expect(codes.size).toBe(2_000);
    expect(codes.codes.length).toBe(2_000 * DIM);
    expect(codes.bytes).toBeGreaterThanOrEqual(2_000 * DIM);
  });

  it('estimates every cosine to within the rounding of its codes', () => {
    for (const query of queries.slice(0, 5)) {
      const exact = new Map(flat.search(query, 2_000).map((h) => [h.label, h.score]));
      for (const h of codes.search(query, 2_000)) expect(Math.abs(h.score - exact.get(h.label)!)).toBeLessThan(0.02);
    }
  });

  it('finds the exact top 10 among its top 30, rescored to the float32 scores bit for bit', () => {
    const read = readerOf(flat);
    for (const query of queries) {
      const want = flat.search(query, 10);
      const got = rescore(query, codes.search(query, 30).map((h) => h.label), read, 10);
      expect(got).toEqual(want);
    }
  });

  it('skips rows the filter rejects, and returns every row when k exceeds the size', () => {
    const even = codes.search(queries[0], 10, (row) => row % 2 === 0);
    expect(even.every((h) => h.label % 2 === 0)).toBe(true);
    const small = new Int8Vectors(Int8Quantizer.fit(vectors.slice(0, 5), DIM));
    for (const v of vectors.slice(0, 5)) small.add(v);
    expect(small.search(queries[0], 50)).toHaveLength(5);
  });

  it('scores every row 0 for a zero query (ties: lower rows first)', () => {
    const zero = new Float32Array(DIM);
    const hits = codes.search(zero, 3);
    expect(hits.map((h) => h.label)).toEqual([0, 1, 2]);
    for (const h of hits) expect(h.score).toBeCloseTo(0, 12);
  });

  it('replaces a row with set, and rejects a bad k or query', () => {
    const c = new Int8Vectors(Int8Quantizer.fit(vectors, DIM));
    c.add(vectors[0]);
    c.add(vectors[1]);
    c.set(0, vectors[1]);
    expect(Array.from(c.codes.subarray(0, DIM))).toEqual(Array.from(c.codes.subarray(DIM, 2 * DIM)));
    for (const k of [0, -1, 1.5]) expect(() => codes.search(queries[0], k)).toThrow(/k must be/);
    try {
      codes.search(new Float32Array(3), 1);
      expect.unreachable();
    } catch (err) {
      expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
    }
  });
});

describe('BinaryVectors', () => {
  const vectors = randomVectors(1_000, 4, 70); // 70 dims: 3 words, the last one partly used
  const bits = BinaryVectors.fit(vectors, 70);
  for (const v of vectors) bits.add(v);

  it('holds ceil(dim / 32) words per row', () => {
    expect(bits.words).toBe(3);
    expect(bits.bytes).toBe(1_000 * 3 * 4);
  });

  it('ranks a stored vector first for itself, all its bits agreeing', () => {
    for (const i of [0, 17, 999]) {
      const [top] = bits.search(vectors[i], 1);
      expect(top.score).toBe(70);
      expect(bits.search(vectors[i], 5).some((h) => h.label === i)).toBe(true);
    }
  });

  it('counts agreeing bits: the opposite vector agrees on none', () => {
    const b = new BinaryVectors(new Float32Array(70));
    const v = Float32Array.from({ length: 70 }, (_, d) => (d % 3 === 0 ? 1 : -1));
    b.add(v);
    expect(b.search(v.map((x) => -x), 1)[0].score).toBe(0);
  });

  it('reaches the exact top 10 with a deep enough rescoring', () => {
    const flat = flatOf(vectors);
    const read = readerOf(flat);
    for (const query of randomVectors(5, 5, 70)) {
      expect(rescore(query, bits.search(query, 600).map((h) => h.label), read, 10)).toEqual(flat.search(query, 10));
    }
  });
});

describe('rescore', () => {
  const vectors = randomVectors(100, 6);
  const flat = flatOf(vectors);

  it('reads each distinct candidate once, in ascending row order', () => {
    const rows: number[] = [];
    const read: RowReader = (row, out) => {
      rows.push(row);
      out.set(flat.vector(row)!);
    };
    const hits = rescore(vectors[3], [9, 3, 50, 3, 9, 1], read, 2);
    expect(rows).toEqual([1, 3, 9, 50]);
    expect(hits[0].label).toBe(3);
    expect(hits[0].score).toBeCloseTo(1, 6);
  });

  it('returns nothing for no candidates and rejects a bad k', () => {
    expect(rescore(vectors[0], [], readerOf(flat), 5)).toEqual([]);
    expect(() => rescore(vectors[0], [1], readerOf(flat), 0)).toThrow(/k must be/);
  });
});
