/**
 * Fusing a hybrid query's candidate lists into its top-k hits with no object per candidate: the candidates live in
 * parallel typed arrays (struct of arrays) that are kept and reused from one query to the next, and only the k hits
 * returned become objects.
 *
 * The code is the engine's: `fuseTopK` in shared/retrieve/fusion.ts (its `CandidateTable`), which is this lesson's
 * solution carried into the engine, so the lesson runs the same code the engine does instead of a copy of it. Read
 * it there:
 *
 * - A candidate is a slot: its label, fused score and per-list source scores sit at the same index of
 *   `slotLabel`, `slotScore`, `slotSource` (+ `slotHas`, "is in list i"). Numbers in typed arrays are raw
 *   doubles: no object header, no pointer, nothing for the garbage collector to trace or free.
 * - Label → slot is an open-addressing hash table in an Int32Array (linear probing, sized to twice the candidates),
 *   instead of a Map whose entries are allocated as it grows; it is cleared per query over its own length, which is
 *   proportional to the candidates, not to the index.
 * - The k best are picked with the `TopK` heap (ties: lower label) and drained into two more arrays
 *   (`drainInto`), not into objects.
 * - All of it grows only when a query brings more candidates (or lists) than any before: after the first queries,
 *   a fusion allocates exactly its answer, k `FusedLabel`s.
 *
 * One difference from a table per fuser: the engine keeps one table per process (fusion is synchronous and calls
 * nothing back, so no two fusions ever use it at once), shared by every fuser made here.
 */
import { fuseTopK, type FusedLabel, type FusionOptions } from '../../shared/retrieve/fusion.ts';
import type { ScoredLabel } from '../../shared/types.ts';

export type { FusedLabel, FusionOptions } from '../../shared/retrieve/fusion.ts';

export interface Fuser {
  /**
   * The k best labels over the ranked `lists` (each best first), fused by the fuser's method: 'rrf' adds
   * w / (rrfK + rank) per list a label is in; 'weighted' min-max normalises each list's scores to [0, 1] and adds
   * w × that. Best first, equal scores lower label first; `sources[i]` is the label's score in list i (undefined
   * when it is not in it). The lists are read, never changed. Throws a RangeError when k is not a positive integer.
   */
  fuse(lists: readonly (readonly ScoredLabel[])[], k: number): FusedLabel[];
}

/** Defaults as the engine's `fuse`: RRF with rrfK = 60, every list weighing 1. */
export function createFuser(opts: FusionOptions = {}): Fuser {
  return { fuse: (lists, k) => fuseTopK(lists, k, opts) };
}
