/**
 * Wrong (on purpose): a bounded heap keeps the best k, but the rows are stored as given and every query computes the
 * norm of every row again (a square root per row per query) although the rows never change between queries.
 *
 * What differs from after.ts: buildIndex (rows stored as given) and dotAt (after.ts's dot product divided by the row's
 * norm, computed on every call); search is after.ts's, repeated here only so that it calls this dotAt.
 *
 * @rejected-with norm per row on every query
 */
import { TopK } from '../../../shared/util/topk.ts';
import { dotAt as unitDotAt, writeNormalized, type Hit, type MatrixIndex } from '../after.ts';

export { writeNormalized, type Hit, type MatrixIndex } from '../after.ts';

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

/** Cosine of row `rows[off .. off+dim)` with the unit-length query `q`: the row's norm computed here, every call. */
export function dotAt(rows: Float32Array, off: number, q: Float64Array, dim: number): number {
  let rr = 0;
  for (let j = 0; j < dim; j++) rr += rows[off + j] * rows[off + j];
  return rr === 0 ? 0 : unitDotAt(rows, off, q, dim) / Math.sqrt(rr);
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
