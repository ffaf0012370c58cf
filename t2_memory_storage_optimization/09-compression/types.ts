/**
 * The interface every version of 09-compression shares (before, after, exercise, wrong/*).
 *
 * Vectors: `buildIndex(vectors, full)` keeps what it needs of the vectors to answer `search`; `full` is the same
 * vectors at full precision, on disk (one file, each row read by offset and counted), which an index may read back
 * for a few rows per query. Texts: `packTexts(texts)` keeps what it needs to answer `get(i)` with the exact text.
 */
import type { ScoredLabel } from '../../shared/types.ts';

export type { ScoredLabel } from '../../shared/types.ts';

/** The vectors at full precision (float32, unit length), on disk: `read` fills `out` with one row and is counted. */
export interface FullRows {
  readonly dim: number;
  readonly size: number;
  read(row: number, out: Float32Array): void;
}

/** A vector index over rows 0 .. size − 1 of the vectors it was built from. */
export interface VectorStore {
  readonly size: number;
  readonly dim: number;
  /**
   * The k rows with the highest cosine to `query`, best first (ties: lower row first), each with its exact cosine
   * (as float32 search over the full-precision rows computes it). k > size returns every row. Throws on a k that is
   * not a positive integer or a query of another dimension.
   */
  search(query: Float32Array, k: number): ScoredLabel[];
}

/** Texts 0 .. size − 1, each returned exactly as given. */
export interface TextStore {
  readonly size: number;
  /** Text `i`, byte for byte as given. Throws on an index out of range. */
  get(i: number): string;
}
