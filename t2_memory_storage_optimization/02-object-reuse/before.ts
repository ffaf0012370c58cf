/**
 * Fusing a hybrid query's candidate lists (BM25 and dense) into its top-k hits, written the way it usually starts
 * (and the way the engine's `fuse` in shared/retrieve/fusion.ts did it): an object per candidate.
 *
 * - every candidate becomes a `{ label, score, sources }` object with a `sources` array of its own, kept in a `Map`
 *   from label to object;
 * - all of them are copied out of the map into an array, sorted, and all but k thrown away.
 *
 * With two lists of d candidates that is up to 2d objects, 2d arrays and 2d map entries per query, all garbage a
 * moment later, to return k of them.
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
