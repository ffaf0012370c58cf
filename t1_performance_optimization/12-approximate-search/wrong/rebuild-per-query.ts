/**
 * Wrong (on purpose): the graph is built inside `search`, from the vectors kept by `buildIndex`, so every query pays
 * the whole build (n insertions, each itself a graph search) to then walk the graph once. Every answer is right and
 * recall is high; a query costs far more than the exact scan it was meant to replace. The build is the price paid
 * once, so that many searches can be cheap.
 *
 * @rejected-with one search inserted 10000 vectors into an index
 */
import { HnswIndex } from '../../../shared/index/hnsw.ts';
import type { AnnIndex, AnnOptions, Hit } from '../before.ts';

export type { AnnIndex, AnnOptions, Hit } from '../before.ts';

export const DEFAULTS = { ef: 64, M: 16, efConstruction: 100, seed: 100 } as const;

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  const dim = vectors[0]?.length ?? 1;
  let ef = opts.ef ?? DEFAULTS.ef;
  const graph = (): HnswIndex => {
    const index = new HnswIndex({
      dim,
      M: opts.M ?? DEFAULTS.M,
      efConstruction: opts.efConstruction ?? DEFAULTS.efConstruction,
      efSearch: ef,
      seed: opts.seed ?? DEFAULTS.seed,
      initialCapacity: Math.max(1, vectors.length),
    });
    index.add(
      vectors.map((_, i) => i),
      vectors,
    );
    return index;
  };
  return {
    kind: 'hnswlib',
    size: vectors.length,
    search: (query: Float32Array, k: number): Hit[] => graph().search(query, k),
    setEf: (value: number) => {
      ef = value;
    },
    close() {},
  };
}
