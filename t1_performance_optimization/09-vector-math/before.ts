/**
 * Top-k cosine similarity, written the way it usually starts: vectors as `number[][]`, cosine computed from scratch
 * for every pair (both norms recomputed, two Math.sqrt per pair), every score wrapped in an object, the whole array
 * sorted to keep ten.
 */

export interface Hit {
  /** Position of the vector in the array given to `buildIndex`. */
  index: number;
  /** Cosine similarity in [-1, 1]; 0 when either vector is all zeros. */
  score: number;
}

export interface NaiveIndex {
  vectors: number[][];
  dim: number;
}

export function buildIndex(vectors: number[][]): NaiveIndex {
  const dim = vectors.length > 0 ? vectors[0].length : 0;
  for (const v of vectors) {
    if (v.length !== dim) throw new RangeError(`buildIndex: every vector must have ${dim} dimensions, got ${v.length}`);
  }
  return { vectors, dim };
}

function norm(v: number[]): number {
  return Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
}

function cosine(a: number[], b: number[]): number {
  const dot = a.reduce((sum, x, i) => sum + x * b[i], 0);
  const denominator = norm(a) * norm(b);
  return denominator === 0 ? 0 : dot / denominator;
}

/** The k vectors most similar to `query`, best first (ties: lower index first). */
export function search(index: NaiveIndex, query: number[], k: number): Hit[] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
  if (index.vectors.length > 0 && query.length !== index.dim) {
    throw new RangeError(`search: query has ${query.length} dimensions, index has ${index.dim}`);
  }
  const scored = index.vectors.map((v, i) => ({ index: i, score: cosine(query, v) }));
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, k);
}
