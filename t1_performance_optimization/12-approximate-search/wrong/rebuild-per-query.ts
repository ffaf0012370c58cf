/**
 * Wrong (on purpose): the graph is built inside `search`, from the vectors kept by `buildIndex`, so every query pays
 * the whole build (n insertions, each itself a graph search) to then walk the graph once. Every answer is right and
 * recall is high; a query costs far more than the exact scan it was meant to replace. The build is the price paid
 * once, so that many searches can be cheap.
 *
 * What differs from after.ts: when the graph is built (by every search, with after.ts's buildIndex, instead of once);
 * buildIndex itself only keeps the vectors and the ef.
 *
 * @rejected-with one search inserted 10000 vectors into an index
 */
import { buildIndex as buildHnsw, DEFAULTS, type AnnIndex, type AnnOptions, type Hit } from '../after.ts';

export { DEFAULTS, type AnnIndex, type AnnOptions, type Hit } from '../after.ts';

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  let ef = opts.ef ?? DEFAULTS.ef;
  return {
    kind: 'hnswlib',
    size: vectors.length,
    search: (query: Float32Array, k: number): Hit[] => buildHnsw(vectors, { ...opts, ef }).search(query, k),
    setEf: (value: number) => {
      ef = value;
    },
    close() {},
  };
}
