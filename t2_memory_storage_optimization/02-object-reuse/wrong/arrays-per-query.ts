/**
 * Wrong (on purpose): the candidates are in parallel typed arrays, not objects, but the arrays are made afresh for
 * every fusion, sized to its candidates. No object per candidate, and still several bytes allocated per candidate
 * per query: a typed array is garbage like any other, and one with more than 64 bytes of elements also costs a
 * malloc and a free outside the JS heap.
 *
 * What differs from after.ts: `reserve` allocates new arrays on every call instead of keeping the largest so far.
 * The rest is the candidate table after.ts runs (`CandidateTable` in shared/retrieve/fusion.ts, `fuseTopK`'s), one
 * per fuser here.
 *
 * @rejected-with parallel arrays made per query
 */
import { CandidateTable } from '../../../shared/retrieve/fusion.ts';
import type { FusionOptions, Fuser } from '../after.ts';

export type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

class ArraysPerQuery extends CandidateTable {
  /** Fresh arrays for this query's `candidates` slots of `lists` lists (sized to the query, made every time). */
  protected override reserve(candidates: number, lists: number): void {
    let cap = 64;
    while (cap < candidates) cap *= 2;
    this.allocate(cap, lists);
  }
}

/** Defaults as the engine's `fuse`: RRF with rrfK = 60, every list weighing 1. */
export function createFuser(opts: FusionOptions = {}): Fuser {
  const table = new ArraysPerQuery();
  const rrf = (opts.method ?? 'rrf') === 'rrf';
  return { fuse: (lists, k) => table.fuse(lists, k, rrf, opts.rrfK ?? 60, opts.weights) };
}
