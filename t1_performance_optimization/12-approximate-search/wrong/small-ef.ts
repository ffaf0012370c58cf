/**
 * Wrong (on purpose): a good graph, searched with a candidate list sized for the answer: efSearch = k = 10 by default,
 * on the reasoning that a search returns 10 hits so it needs to keep 10 candidates. It is fast, and it misses about
 * one true neighbour in ten: the list is what lets the walk get past a local optimum, and 10 is too short a list for
 * this data. (setEf still works: the floor is missed only at the defaults.)
 *
 * @rejected-with below the 0.95 floor
 */
import { HnswIndex } from '../../../shared/index/hnsw.ts';
import type { AnnIndex, AnnOptions, Hit } from '../before.ts';

export type { AnnIndex, AnnOptions, Hit } from '../before.ts';

export const DEFAULTS = { ef: 64, M: 16, efConstruction: 100, seed: 100 } as const;

/** Results per query in this lesson: the candidate list only needs to hold them. */
const K = 10;

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  const dim = vectors[0]?.length ?? 1;
  const index = new HnswIndex({
    dim,
    M: opts.M ?? DEFAULTS.M,
    efConstruction: opts.efConstruction ?? DEFAULTS.efConstruction,
    efSearch: opts.ef ?? K,
    seed: opts.seed ?? DEFAULTS.seed,
    initialCapacity: Math.max(1, vectors.length),
  });
  index.add(
    vectors.map((_, i) => i),
    vectors,
  );
  return {
    kind: 'hnswlib',
    get size() {
      return index.size;
    },
    search: (query: Float32Array, k: number): Hit[] => index.search(query, k),
    setEf: (ef: number) => index.setEfSearch(ef),
    close() {},
  };
}
