/**
 * Wrong (on purpose): an object pool. Candidate objects are kept from one fusion to the next and handed out again
 * (found through a reused hash table), so after the first queries no candidate object is allocated. But a pooled
 * object is only partly reset: its score is set back to zero, its `sources` are not. A label that is in only one
 * list now shows the other list's score from whatever candidate last used that object.
 *
 * What differs from after.ts: createFuser, its only function: candidates are pooled objects instead of slots in
 * parallel arrays, and their `sources` are not cleared when they are reused; the types are after.ts's.
 *
 * @rejected-with sources from an earlier fusion
 */
import type { ScoredLabel } from '../../../shared/types.ts';
import { TopK } from '../../../shared/util/topk.ts';
import type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

export type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

export function createFuser(opts: FusionOptions = {}): Fuser {
  const rrf = (opts.method ?? 'rrf') === 'rrf';
  const rrfK = opts.rrfK ?? 60;
  const pool: FusedLabel[] = [];
  let table = new Int32Array(128);
  let topLabels = new Int32Array(64);
  let topScores = new Float64Array(64);
  const top = new TopK(16, { ties: 'lower-label' });
  return {
    fuse(lists, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`fuse: k must be a positive integer, got ${k}`);
      let total = 0;
      for (const list of lists) total += list.length;
      if (total === 0) return [];
      if (table.length < total * 2) {
        let size = table.length;
        while (size < total * 2) size *= 2;
        table = new Int32Array(size);
        topLabels = new Int32Array(size);
        topScores = new Float64Array(size);
      }
      const mask = table.length - 1;
      const slot = (label: number): number => {
        let h = Math.imul(label, 0x9e3779b1) & mask;
        while (table[h] !== 0 && pool[table[h] - 1].label !== label) h = (h + 1) & mask;
        return h;
      };
      let m = 0;
      lists.forEach((list: readonly ScoredLabel[], li) => {
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
          const h = slot(hit.label);
          let f: FusedLabel;
          if (table[h] === 0) {
            if (m === pool.length) pool.push({ label: 0, score: 0, sources: [] });
            f = pool[m++];
            table[h] = m;
            f.label = hit.label;
            f.score = 0; // reset... but not f.sources
            f.sources.length = lists.length;
          } else f = pool[table[h] - 1];
          f.score += rrf ? w / (rrfK + rank + 1) : w * (span > 0 ? (hit.score - min) / span : 1);
          f.sources[li] = hit.score;
        });
      });
      top.reset(Math.min(k, m));
      for (let i = 0; i < m; i++) top.push(pool[i].label, pool[i].score);
      const n = top.drainInto(topLabels, topScores);
      const out: FusedLabel[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const f = pool[table[slot(topLabels[i])] - 1];
        out[i] = { label: f.label, score: f.score, sources: [...f.sources] };
      }
      table.fill(0);
      return out;
    },
  };
}
