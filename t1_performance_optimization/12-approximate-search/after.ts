/**
 * Approximate nearest neighbours with HNSW (hnswlib, through the engine's `HnswIndex`).
 *
 * A hierarchical navigable small-world graph links every vector to about M near neighbours (2M on the bottom layer),
 * with a few long-range links on sparse upper layers. A search starts at the top, walks greedily towards the query,
 * drops a layer, and on the bottom layer keeps a candidate list of `ef` nodes, expanding the best until none of its
 * neighbours improves the list. It scores a few thousand vectors instead of all n: the cost grows roughly with
 * log n, not n. The price: the answer may miss some true neighbours (recall < 1), and building the graph is slow.
 *
 * `ef` is the dial: a longer candidate list explores more of the graph, so recall rises and speed falls. Defaults
 * here: M = 16, efConstruction = 100, ef = 64 (the README shows what they buy: recall@10 against speed per ef).
 * Same data + same insertion order + same seed = the same graph = the same answers.
 */
import { HnswIndex } from '../../shared/index/hnsw.ts';
import type { AnnIndex, AnnOptions, Hit } from './before.ts';

export type { AnnIndex, AnnOptions, Hit } from './before.ts';

export const DEFAULTS = { ef: 64, M: 16, efConstruction: 100, seed: 100 } as const;

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  const dim = vectors[0]?.length ?? 1;
  const index = new HnswIndex({
    dim,
    M: opts.M ?? DEFAULTS.M,
    efConstruction: opts.efConstruction ?? DEFAULTS.efConstruction,
    efSearch: opts.ef ?? DEFAULTS.ef,
    seed: opts.seed ?? DEFAULTS.seed,
    initialCapacity: Math.max(1, vectors.length), // no resize while building
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
