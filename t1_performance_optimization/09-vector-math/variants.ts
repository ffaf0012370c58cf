/**
 * Two half-way variants for the benchmark, each with one mechanism of after.ts taken back out, so the table shows
 * what each mechanism is worth:
 *
 * - `searchNoUnroll`: after.ts with a plain one-accumulator dot product (what the 4-way unroll buys);
 * - `searchFullSort`: after.ts scoring, but every score becomes an object and the array is sorted (what the heap buys).
 */
import { TopK } from '../../shared/util/topk.ts';
import { writeNormalized, type Hit, type MatrixIndex } from './after.ts';

function normalizedQuery(index: MatrixIndex, query: number[]): Float64Array {
  const q = new Float64Array(index.dim);
  writeNormalized(query, q, 0);
  return q;
}

export function searchNoUnroll(index: MatrixIndex, query: number[], k: number): Hit[] {
  const { n, dim, rows } = index;
  const q = normalizedQuery(index, query);
  const top = new TopK(Math.min(k, n));
  for (let i = 0, off = 0; i < n; i++, off += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += rows[off + j] * q[j];
    top.push(i, s);
  }
  return top.drain().map((h) => ({ index: h.label, score: h.score }));
}

export function searchFullSort(index: MatrixIndex, query: number[], k: number): Hit[] {
  const { n, dim, rows } = index;
  const q = normalizedQuery(index, query);
  const scored: Hit[] = [];
  for (let i = 0, off = 0; i < n; i++, off += dim) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let j = 0;
    for (; j + 3 < dim; j += 4) {
      s0 += rows[off + j] * q[j];
      s1 += rows[off + j + 1] * q[j + 1];
      s2 += rows[off + j + 2] * q[j + 2];
      s3 += rows[off + j + 3] * q[j + 3];
    }
    for (; j < dim; j++) s0 += rows[off + j] * q[j];
    scored.push({ index: i, score: s0 + s1 + (s2 + s3) });
  }
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, k);
}
