/**
 * Exact nearest neighbours: score the query against every vector (FlatIndex: one contiguous Float32Array, one pass
 * of dot products, a bounded heap). Always right, and the cost grows linearly with the corpus: n × dim multiply-adds
 * per query, whatever the query.
 */
import { FlatIndex } from '../../shared/index/flat.ts';
import type { ScoredLabel } from '../../shared/types.ts';

export type Hit = ScoredLabel;

export interface AnnOptions {
  /** Search-time candidate list (HNSW efSearch). Ignored by exact search. */
  ef?: number;
  /** Graph degree (HNSW M). Ignored by exact search. */
  M?: number;
  /** Candidate list while building (HNSW efConstruction). Ignored by exact search. */
  efConstruction?: number;
  /** Seed of the graph's level generator. Ignored by exact search. */
  seed?: number;
}

export interface AnnIndex {
  /** Which library / method answers. */
  readonly kind: string;
  readonly size: number;
  /** The k most similar vectors (cosine), best first; labels are positions in the array given to `buildIndex`. */
  search(query: Float32Array, k: number): Hit[];
  /** Change the search-time candidate list size (no-op for exact search). */
  setEf(ef: number): void;
  /** Release native memory and temporary files. */
  close(): void;
}

export function buildIndex(vectors: Float32Array[], _opts: AnnOptions = {}): AnnIndex {
  const dim = vectors[0]?.length ?? 1;
  const flat = new FlatIndex({ dim, initialCapacity: Math.max(1, vectors.length) });
  flat.add(
    vectors.map((_, i) => i),
    vectors,
  );
  return {
    kind: 'exact',
    get size() {
      return flat.size;
    },
    search: (query, k) => flat.search(query, k),
    setEf() {},
    close() {},
  };
}
