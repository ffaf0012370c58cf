import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel } from '../types.ts';
import { TopK } from '../util/topk.ts';

/**
 * Compressed vectors for cosine search, and the exact rescoring that makes their answers exact again.
 *
 * A search over compressed codes ranks by an *estimate* of the cosine; the estimate is good enough to find the true
 * top k among its best R candidates (R a few times k), and `rescore` then reads those R rows at full precision (from
 * wherever they live: a file, another tier) and returns them ranked by their exact cosine. Memory holds only the
 * codes; the full-precision rows are touched R times per query instead of n times.
 *
 * - `Int8Quantizer` + `Int8Vectors`: one byte per dimension. Each dimension d has its own range [lo_d, lo_d + 255·step_d]
 *   learned from the data (`Int8Quantizer.fit`); a value is stored as the nearest of its 256 steps. The query stays
 *   in float: score ≈ Σ_d q_d · (lo_d + c_d·step_d) = Σ_d q_d·lo_d + Σ_d (q_d·step_d)·c_d, i.e. one constant and one
 *   multiply-add per byte (asymmetric: only the stored side is rounded).
 * - `BinaryVectors`: one bit per dimension, the sign of the value minus the dimension's mean; rows compared by
 *   Hamming distance over 32-bit words (a popcount per word). Very small and crude: it needs a deep rescoring.
 * - `rescore(query, rows, read, k)`: the exact cosine of each candidate row, the k best, best first (ties: lower row).
 *
 * Every class works on unit vectors: rows are L2-normalised before encoding, queries before scoring, so a score is a
 * cosine (estimated) as in `FlatIndex`. Labels are row numbers, in the order rows were added. A zero vector encodes as
 * the codes of the zero vector (its cosine with anything is 0) and a zero query scores every row 0.
 *
 * Cost per vector of `dim` dimensions: Int8Vectors `dim` bytes (100 for the engine's 100-d SIF vectors), plus
 * 2 × dim × 4 bytes per quantizer; BinaryVectors `4 × ceil(dim / 32)` bytes (16 for 100-d), plus dim × 4 bytes of
 * means. The figures for the engine's vectors (recall@10 against exact fp32 per rescoring depth) are in
 * t2_memory_storage_optimization/09-compression/README.md.
 */

/** Reads row `row`'s full-precision, unit-length vector into `out` (length dim). */
export type RowReader = (row: number, out: Float32Array) => void;

/** Unit-length copy of `v` in `out` (zero stays zero); returns whether v was non-zero. */
export function normalizeInto(v: ArrayLike<number>, out: Float32Array | Float64Array): boolean {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j] * v[j];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let j = 0; j < v.length; j++) out[j] = v[j] * inv;
  return s > 0;
}

function checkDim(where: string, got: number, dim: number): void {
  if (got !== dim) throw new RagError('INVALID_INPUT', `${where}: vector has dim ${got}, expected ${dim}`);
}

function checkK(where: string, k: number): void {
  if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `${where}: k must be a positive integer, got ${k}`);
}

export interface Int8FitOptions {
  /**
   * Share of values clipped at each end of every dimension's range: the range is [q, 1−q] quantiles of the sample
   * instead of [min, max], so one outlier does not widen every step. Default 0 (min and max).
   */
  clip?: number;
  /** Rows sampled to learn the ranges (evenly spaced, deterministic). Default 20,000. */
  sample?: number;
}

/** Per-dimension affine quantization of unit vectors to 8 bits: value ≈ lo[d] + code · step[d], code in 0..255. */
export class Int8Quantizer {
  readonly dim: number;
  /** Per dimension, the value code 0 stands for. */
  readonly lo: Float32Array;
  /** Per dimension, the value of one code step (> 0). */
  readonly step: Float32Array;

  constructor(lo: Float32Array, step: Float32Array) {
    if (lo.length !== step.length || lo.length === 0) throw new RagError('INVALID_INPUT', 'Int8Quantizer: lo and step must have the same non-zero length');
    for (let d = 0; d < step.length; d++) {
      if (!(step[d] > 0) || !Number.isFinite(lo[d])) throw new RagError('INVALID_INPUT', `Int8Quantizer: dimension ${d} has lo ${lo[d]}, step ${step[d]}`);
    }
    this.dim = lo.length;
    this.lo = lo;
    this.step = step;
  }

  /**
   * Learns each dimension's range from `vectors` (normalised first, as they will be stored). An empty set, or a
   * dimension that never varies, gets the range [-1, 1], which every unit vector fits.
   */
  static fit(vectors: ArrayLike<ArrayLike<number>>, dim: number, opts: Int8FitOptions = {}): Int8Quantizer {
    if (!Number.isInteger(dim) || dim <= 0) throw new RagError('INVALID_INPUT', `Int8Quantizer.fit: dim must be a positive integer, got ${dim}`);
    const clip = opts.clip ?? 0;
    if (!(clip >= 0 && clip < 0.5)) throw new RagError('INVALID_INPUT', `Int8Quantizer.fit: clip must be in [0, 0.5), got ${clip}`);
    const n = vectors.length;
    const m = Math.min(n, Math.max(1, opts.sample ?? 20_000));
    const lo = new Float32Array(dim).fill(-1);
    const step = new Float32Array(dim).fill(2 / 255);
    if (n === 0) return new Int8Quantizer(lo, step);
    // column-major sample of normalised rows
    const cols = new Float32Array(dim * m);
    const unit = new Float32Array(dim);
    for (let i = 0; i < m; i++) {
      const v = vectors[Math.floor((i * n) / m)];
      checkDim('Int8Quantizer.fit', v.length, dim);
      normalizeInto(v, unit);
      for (let d = 0; d < dim; d++) cols[d * m + i] = unit[d];
    }
    for (let d = 0; d < dim; d++) {
      const col = cols.subarray(d * m, (d + 1) * m).sort();
      const a = col[Math.floor(clip * (m - 1))];
      const b = col[Math.ceil((1 - clip) * (m - 1))];
      if (b > a) {
        lo[d] = a;
        step[d] = (b - a) / 255;
      }
    }
    return new Int8Quantizer(lo, step);
  }

  /** Codes of `v` (normalised first) into `out[at .. at + dim)`; values outside a range are clamped to it. */
  encode(v: ArrayLike<number>, out: Uint8Array, at = 0): void {
    checkDim('Int8Quantizer.encode', v.length, this.dim);
    let s = 0;
    for (let j = 0; j < v.length; j++) s += v[j] * v[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    const { lo, step, dim } = this;
    for (let d = 0; d < dim; d++) {
      const c = Math.round((v[d] * inv - lo[d]) / step[d]);
      out[at + d] = c < 0 ? 0 : c > 255 ? 255 : c;
    }
  }

  /** The vector codes `codes[at .. at + dim)` stand for. */
  decode(codes: Uint8Array, at: number, out: Float32Array): void {
    for (let d = 0; d < this.dim; d++) out[d] = this.lo[d] + codes[at + d] * this.step[d];
  }
}

/** Codes of unit vectors, one byte per dimension, in one growable Uint8Array; an approximate cosine search over them. */
export class Int8Vectors {
  readonly quantizer: Int8Quantizer;
  readonly dim: number;
  private data: Uint8Array;
  private n = 0;
  /** Scratch for a prepared query, reused by every search. */
  private readonly weights: Float64Array;
  private readonly unit: Float64Array;

  constructor(quantizer: Int8Quantizer, initialCapacity = 1024) {
    this.quantizer = quantizer;
    this.dim = quantizer.dim;
    this.data = new Uint8Array(Math.max(1, initialCapacity) * this.dim);
    this.weights = new Float64Array(this.dim);
    this.unit = new Float64Array(this.dim);
  }

  get size(): number {
    return this.n;
  }

  /** Bytes of codes held (capacity included): the memory this store costs, besides its quantizer. */
  get bytes(): number {
    return this.data.byteLength;
  }

  /** The codes of every row so far, row-major (a view). */
  get codes(): Uint8Array {
    return this.data.subarray(0, this.n * this.dim);
  }

  /** Appends `v` (normalised, then encoded); returns its row. */
  add(v: ArrayLike<number>): number {
    if (this.n * this.dim === this.data.length) {
      const grown = new Uint8Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.quantizer.encode(v, this.data, this.n * this.dim);
    return this.n++;
  }

  /** Replaces row `row`'s codes with those of `v`. */
  set(row: number, v: ArrayLike<number>): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.n) throw new RagError('INVALID_INPUT', `Int8Vectors.set: no row ${row}`);
    this.quantizer.encode(v, this.data, row * this.dim);
  }

  /**
   * The k rows with the highest estimated cosine to `query`, best first (ties: lower row), scores estimated. Rows
   * the filter rejects are skipped before they are scored.
   */
  search(query: ArrayLike<number>, k: number, filter?: LabelFilter): ScoredLabel[] {
    checkDim('Int8Vectors.search', query.length, this.dim);
    checkK('Int8Vectors.search', k);
    const kk = Math.min(k, this.n);
    if (kk === 0) return [];
    const { dim, weights, unit } = this;
    const { lo, step } = this.quantizer;
    normalizeInto(query, unit);
    let bias = 0;
    for (let d = 0; d < dim; d++) {
      weights[d] = unit[d] * step[d];
      bias += unit[d] * lo[d];
    }
    const top = new TopK(kk);
    const data = this.data;
    const tail = dim & ~3;
    for (let i = 0, off = 0; i < this.n; i++, off += dim) {
      if (filter !== undefined && !filter(i)) continue;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let j = 0;
      for (; j < tail; j += 4) {
        s0 += weights[j] * data[off + j];
        s1 += weights[j + 1] * data[off + j + 1];
        s2 += weights[j + 2] * data[off + j + 2];
        s3 += weights[j + 3] * data[off + j + 3];
      }
      for (; j < dim; j++) s0 += weights[j] * data[off + j];
      const score = bias + (s0 + s1 + (s2 + s3));
      if (score > top.threshold) top.push(i, score);
    }
    return top.drain();
  }
}

/** Bits set in a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * One bit per dimension: bit d of a row is set when its (normalised) value exceeds `mean[d]`. Rows are ranked by the
 * number of bits that agree with the query's (dim − Hamming distance), a crude estimate of the cosine.
 */
export class BinaryVectors {
  readonly dim: number;
  /** 32-bit words per row. */
  readonly words: number;
  /** Per dimension, the threshold a value is compared with (the data's mean, from `fit`). */
  readonly mean: Float32Array;
  private data: Uint32Array;
  private n = 0;
  private readonly unit: Float64Array;
  private readonly qbits: Uint32Array;

  constructor(mean: Float32Array, initialCapacity = 1024) {
    if (mean.length === 0) throw new RagError('INVALID_INPUT', 'BinaryVectors: dim must be positive');
    this.dim = mean.length;
    this.words = Math.ceil(this.dim / 32);
    this.mean = mean;
    this.data = new Uint32Array(Math.max(1, initialCapacity) * this.words);
    this.unit = new Float64Array(this.dim);
    this.qbits = new Uint32Array(this.words);
  }

  /** Thresholds at each dimension's mean over `vectors` (normalised first); an empty set gives zeros. */
  static fit(vectors: ArrayLike<ArrayLike<number>>, dim: number, initialCapacity?: number): BinaryVectors {
    const mean = new Float64Array(dim);
    const unit = new Float64Array(dim);
    for (let i = 0; i < vectors.length; i++) {
      checkDim('BinaryVectors.fit', vectors[i].length, dim);
      normalizeInto(vectors[i], unit);
      for (let d = 0; d < dim; d++) mean[d] += unit[d];
    }
    const m = new Float32Array(dim);
    if (vectors.length > 0) for (let d = 0; d < dim; d++) m[d] = mean[d] / vectors.length;
    return new BinaryVectors(m, initialCapacity ?? Math.max(1, vectors.length));
  }

  get size(): number {
    return this.n;
  }

  /** Bytes of codes held (capacity included). */
  get bytes(): number {
    return this.data.byteLength;
  }

  private encode(v: ArrayLike<number>, out: Uint32Array, at: number): void {
    checkDim('BinaryVectors', v.length, this.dim);
    normalizeInto(v, this.unit);
    for (let w = 0; w < this.words; w++) out[at + w] = 0;
    for (let d = 0; d < this.dim; d++) if (this.unit[d] > this.mean[d]) out[at + (d >>> 5)] |= 1 << (d & 31);
  }

  /** Appends `v`; returns its row. */
  add(v: ArrayLike<number>): number {
    if (this.n * this.words === this.data.length) {
      const grown = new Uint32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.encode(v, this.data, this.n * this.words);
    return this.n++;
  }

  /** The k rows whose bits agree most with the query's, best first (ties: lower row); score = agreeing bits. */
  search(query: ArrayLike<number>, k: number, filter?: LabelFilter): ScoredLabel[] {
    checkK('BinaryVectors.search', k);
    const kk = Math.min(k, this.n);
    if (kk === 0) return [];
    this.encode(query, this.qbits, 0);
    const { words, data, qbits, dim } = this;
    const top = new TopK(kk);
    for (let i = 0, off = 0; i < this.n; i++, off += words) {
      if (filter !== undefined && !filter(i)) continue;
      let h = 0;
      for (let w = 0; w < words; w++) h += popcount(data[off + w] ^ qbits[w]);
      const score = dim - h;
      if (score > top.threshold) top.push(i, score);
    }
    return top.drain();
  }
}

/**
 * Exact rescoring: reads each candidate row at full precision with `read` and returns the k with the highest cosine
 * to `query`, best first (ties: lower row), with exact scores. Each distinct candidate is read once, in ascending
 * row order (sequential for a file). `read` must fill unit-length rows, as the indexes store them.
 */
export function rescore(query: ArrayLike<number>, candidates: ArrayLike<number>, read: RowReader, k: number, dim = query.length): ScoredLabel[] {
  checkK('rescore', k);
  checkDim('rescore', query.length, dim);
  const rows = Int32Array.from(candidates).sort();
  const q = new Float32Array(dim);
  normalizeInto(query, q);
  const row = new Float32Array(dim);
  const top = new TopK(Math.max(1, Math.min(k, rows.length)));
  const tail = dim & ~3;
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && rows[i] === rows[i - 1]) continue;
    read(rows[i], row);
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let j = 0;
    for (; j < tail; j += 4) {
      s0 += q[j] * row[j];
      s1 += q[j + 1] * row[j + 1];
      s2 += q[j + 2] * row[j + 2];
      s3 += q[j + 3] * row[j + 3];
    }
    for (; j < dim; j++) s0 += q[j] * row[j];
    top.push(rows[i], s0 + s1 + s2 + s3);
  }
  return rows.length === 0 ? [] : top.drain();
}
