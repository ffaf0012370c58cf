/**
 * EXERCISE 12-approximate-search — replace exact search with an HNSW graph. Check with:
 * npm run checkpoint -- 12-approximate-search
 *
 * Build `buildIndex` on the engine's `HnswIndex` (shared/index/hnsw.ts; read its options):
 *
 * 1. construct it with dim, M, efConstruction, efSearch (= ef) and seed from `opts`, falling back to DEFAULTS, and
 *    an initialCapacity of the number of vectors (so it never resizes while building);
 * 2. add every vector with its position as its label, in order (same order + same seed = the same graph);
 * 3. return an AnnIndex: `search` delegates to the graph, `setEf` changes its efSearch.
 *
 * The checkpoint wants recall@10 ≥ 0.95 against exact search at the default ef, and identical answers from two builds
 * with the same seed. The solution is in after.ts; try first.
 */
import { HnswIndex } from '../../shared/index/hnsw.ts';
import type { AnnIndex, AnnOptions } from './before.ts';

export type { AnnIndex, AnnOptions, Hit } from './before.ts';

export const DEFAULTS = { ef: 64, M: 16, efConstruction: 100, seed: 100 } as const;

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  // TODO: new HnswIndex({ ... }), index.add(labels, vectors), and an AnnIndex around it (kind: 'hnswlib').
  void HnswIndex;
  void vectors;
  void opts;
  throw new Error('TODO(12-approximate-search): build an HnswIndex over the vectors');
}
