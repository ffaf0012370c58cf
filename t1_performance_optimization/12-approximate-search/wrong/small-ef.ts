/**
 * Wrong (on purpose): a good graph, searched with a candidate list sized for the answer: efSearch = k = 10 by default,
 * on the reasoning that a search returns 10 hits so it needs to keep 10 candidates. It is fast, and it misses about
 * one true neighbour in ten: the list is what lets the walk get past a local optimum, and 10 is too short a list for
 * this data. (setEf still works: the floor is missed only at the defaults.)
 *
 * What differs from after.ts: the default ef of buildIndex (K = 10 instead of DEFAULTS.ef); the graph and the search
 * are after.ts's.
 *
 * @rejected-with below the 0.95 floor
 */
import { buildIndex as buildHnsw, type AnnIndex, type AnnOptions } from '../after.ts';

export { DEFAULTS, type AnnIndex, type AnnOptions, type Hit } from '../after.ts';

/** Results per query in this lesson: the candidate list only needs to hold them. */
const K = 10;

export function buildIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  return buildHnsw(vectors, { ...opts, ef: opts.ef ?? K });
}
