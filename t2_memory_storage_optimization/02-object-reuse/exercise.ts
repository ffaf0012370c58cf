/**
 * EXERCISE 02-object-reuse — fuse a hybrid query's candidates without an object per candidate, returning the same
 * hits.
 *
 * As shipped it is correct and wasteful: every candidate of every list becomes an object with a `sources` array of
 * its own, kept in a Map, and all of them are sorted to keep k. At the depth a reranking pipeline asks for (hundreds
 * of candidates per retriever), that is a heap of short-lived objects on every query.
 *
 * What must hold (checked by `npm run checkpoint -- 02-object-reuse`):
 *
 *   - the same hits as before.ts (and as the engine's `fuse(lists).slice(0, k)`) for every query, fusion after
 *     fusion on one fuser, any depth, any k, any number of lists, both methods; ties to the lower label;
 *   - the hits a caller holds do not change when the next fusion runs, and the lists passed in are not changed;
 *   - once warmed up, a fusion creates no typed array (counted by swapping the typed-array constructors);
 *   - a fusion allocates nothing per candidate: the bytes it allocates are measured at two list depths, and the
 *     difference divided by the extra candidates must be (close to) zero. The k hits it returns may be objects.
 *
 * Measure yours beside before and after: npm run t2 -- --only 02-object-reuse --impl exercise --quick
 * Stuck? npm run hint -- 02-object-reuse
 */
import type { FusedLabel, FusionOptions } from '../../shared/retrieve/fusion.ts';
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
  const method = opts.method ?? 'rrf';
  const rrfK = opts.rrfK ?? 60;
  return {
    fuse(lists, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`fuse: k must be a positive integer, got ${k}`);
      const fused = new Map<number, FusedLabel>();
      lists.forEach((list, li) => {
        if (list.length === 0) return;
        const w = opts.weights?.[li] ?? 1;
        let min = Infinity;
        let max = -Infinity;
        for (const h of list) {
          if (h.score < min) min = h.score;
          if (h.score > max) max = h.score;
        }
        const span = max - min;
        list.forEach((hit, rank) => {
          let f = fused.get(hit.label);
          if (!f) {
            f = { label: hit.label, score: 0, sources: new Array(lists.length).fill(undefined) };
            fused.set(hit.label, f);
          }
          f.score += method === 'rrf' ? w / (rrfK + rank + 1) : w * (span > 0 ? (hit.score - min) / span : 1);
          f.sources[li] = hit.score;
        });
      });
      return [...fused.values()].sort((a, b) => b.score - a.score || a.label - b.label).slice(0, k);
    },
  };
}
