/**
 * Wrong (on purpose): rows normalised once and a fast dot product, but every score is wrapped in an object and all n
 * are sorted to keep k. The arithmetic got fast; the selection did not (O(n log n), n allocations per query).
 *
 * What differs from after.ts: how search keeps the best k (a full sort instead of the bounded heap); the index, the
 * normalisation and the dot product are after.ts's.
 *
 * @rejected-with sorted all 2000 scores to keep 10
 */
import { dotAt, writeNormalized, type Hit, type MatrixIndex } from '../after.ts';

export { buildIndex, dotAt, writeNormalized, type Hit, type MatrixIndex } from '../after.ts';

/** The k vectors most similar to `query`, best first (ties: lower index first). */
export function search(index: MatrixIndex, query: number[], k: number): Hit[] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
  const { n, dim, rows } = index;
  if (n === 0) return [];
  if (query.length !== dim) throw new RangeError(`search: query has ${query.length} dimensions, index has ${dim}`);
  const q = new Float64Array(dim);
  writeNormalized(query, q, 0);
  const scored: Hit[] = [];
  for (let i = 0, off = 0; i < n; i++, off += dim) scored.push({ index: i, score: dotAt(rows, off, q, dim) });
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  return scored.slice(0, k);
}
