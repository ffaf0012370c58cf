/**
 * EXERCISE 09-vector-math — make `search` fast. Check with: npm run checkpoint -- 09-vector-math
 *
 * The layout is done for you: `buildIndex` already stores every row, normalised, in one Float32Array. Two parts are
 * missing (search for TODO):
 *
 * 1. `dotAt`: the dot product of one row with the normalised query. Rows are unit length, so this dot product IS the
 *    cosine. Unroll it 4 ways with 4 independent accumulators (s0..s3), then finish the leftover dims.
 * 2. the loop in `search`: score every row and keep the best k in a `TopK` heap (`push(label, score)`, then
 *    `drain()` gives them best first). No array of n objects, no sort.
 *
 * The solution is in after.ts; try first.
 */
import { TopK } from '../../shared/util/topk.ts';

export interface Hit {
  /** Position of the vector in the array given to `buildIndex`. */
  index: number;
  /** Cosine similarity in [-1, 1]; 0 when either vector is all zeros. */
  score: number;
}

export interface MatrixIndex {
  readonly n: number;
  readonly dim: number;
  /** n × dim, row-major, every non-zero row of unit length. */
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
    writeNormalized(v, rows, i * dim);
  }
  return { n, dim, rows };
}

/** Dot product of row `rows[off .. off+dim)` with `q`, unrolled 4 ways. */
export function dotAt(rows: Float32Array, off: number, q: Float64Array, dim: number): number {
  // TODO(1): sum rows[off + j] * q[j] for j in [0, dim), 4 at a time into s0..s3, then the remainder.
  throw new Error('TODO(09-vector-math, step 1): implement dotAt in exercise.ts');
}

/** The k vectors most similar to `query`, best first (ties: lower index first). */
export function search(index: MatrixIndex, query: number[], k: number): Hit[] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
  const { n, dim, rows } = index;
  if (n === 0) return [];
  if (query.length !== dim) throw new RangeError(`search: query has ${query.length} dimensions, index has ${dim}`);
  const q = new Float64Array(dim);
  writeNormalized(query, q, 0);
  // TODO(2): keep the best min(k, n) rows in a TopK: for row i (at offset i * dim), push(i, dotAt(rows, i * dim, q, dim)).
  //          Then return top.drain() mapped to { index: label, score }.
  throw new Error('TODO(09-vector-math, step 2): score every row with dotAt and keep the best k in a TopK');
}
