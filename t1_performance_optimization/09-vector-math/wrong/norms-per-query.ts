/**
 * Wrong (on purpose): a bounded heap keeps the best k, but the rows are stored as given and every query computes the
 * norm of every row again (a square root per row per query) although the rows never change between queries.
 *
 * @rejected-with norm per row on every query
 */
import { TopK } from '../../../shared/util/topk.ts';

export interface Hit {
  /** Position of the vector in the array given to `buildIndex`. */
  index: number;
  /** Cosine similarity in [-1, 1]; 0 when either vector is all zeros. */
  score: number;
}

export interface MatrixIndex {
  readonly n: number;
  readonly dim: number;
  /** n × dim, row-major: row i at offset i × dim. */
  readonly rows: Float32Array;
}

/** Copy `v` into `out` at `offset`, scaled to unit length (zero vectors stay zero). */
export function writeNormalized(v: ArrayLike<number>, out: Float32Array | Float64Array, offset: number): void {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j] * v[j];
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let j = 0; j < v.length; j++) out[offset + j] = v[j] * inv;
}

export function buildIndex(vectors: number[][]): MatrixIndex {
  const n = vectors.length;
  const dim = n > 0 ? vectors[0].length : 0;
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (v.length !== dim) throw new RangeError(`buildIndex: every vector must have ${dim} dimensions, got ${v.length}`);
    rows.set(v, i * dim);
  }
  return { n, dim, rows };
}

/** Cosine of row `rows[off .. off+dim)` with the unit-length query `q`: the row's norm computed here. */
export function dotAt(rows: Float32Array, off: number, q: Float64Array, dim: number): number {
  let rr = 0;
  for (let j = 0; j < dim; j++) rr += rows[off + j] * rows[off + j];
  if (rr === 0) return 0;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end = dim - (dim & 3);
  let j = 0;
  for (; j < end; j += 4) {
    s0 += rows[off + j] * q[j];
    s1 += rows[off + j + 1] * q[j + 1];
    s2 += rows[off + j + 2] * q[j + 2];
    s3 += rows[off + j + 3] * q[j + 3];
  }
  for (; j < dim; j++) s0 += rows[off + j] * q[j];
  return (s0 + s1 + (s2 + s3)) / Math.sqrt(rr);
}

/** The k vectors most similar to `query`, best first (ties: lower index first). */
export function search(index: MatrixIndex, query: number[], k: number): Hit[] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
  const { n, dim, rows } = index;
  if (n === 0) return [];
  if (query.length !== dim) throw new RangeError(`search: query has ${query.length} dimensions, index has ${dim}`);
  const q = new Float64Array(dim);
  writeNormalized(query, q, 0);
  const top = new TopK(Math.min(k, n));
  for (let i = 0, off = 0; i < n; i++, off += dim) top.push(i, dotAt(rows, off, q, dim));
  return top.drain().map((h) => ({ index: h.label, score: h.score }));
}
