/**
 * Wrong (on purpose): the full sort is gone (a bounded `TopK` heap picks the k best, as in
 * t1_performance_optimization/09-vector-math), but every candidate is still an object with a sources array, kept in a
 * Map. Selection got cheaper; the allocation per candidate, the lesson's point, is all still there.
 *
 * What differs from after.ts: createFuser, its only function: the candidates are objects in a Map (before.ts's), only
 * the selection (the `TopK` heap) is after.ts's.
 *
 * @rejected-with bytes allocated per candidate
 */
import type { ScoredLabel } from '../../../shared/types.ts';
import { TopK } from '../../../shared/util/topk.ts';
import type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

export type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

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
        list.forEach((hit: ScoredLabel, rank) => {
          let f = fused.get(hit.label);
          if (!f) {
            f = { label: hit.label, score: 0, sources: new Array(lists.length).fill(undefined) };
            fused.set(hit.label, f);
          }
          f.score += method === 'rrf' ? w / (rrfK + rank + 1) : w * (span > 0 ? (hit.score - min) / span : 1);
          f.sources[li] = hit.score;
        });
      });
      if (fused.size === 0) return [];
      const top = new TopK(Math.min(k, fused.size), { ties: 'lower-label' });
      for (const f of fused.values()) top.push(f.label, f.score);
      return top.drain().map((h) => fused.get(h.label)!);
    },
  };
}
