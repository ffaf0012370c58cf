/**
 * Wrong (on purpose): the score buffer and the candidate list are allocated once and reused, but nothing sets the
 * scores back to zero after a query. The first query is right; every later one starts from the scores the queries
 * before it left behind (and a label they scored never counts as a candidate again).
 *
 * What differs from after.ts: the reset after the heap is filled is missing.
 *
 * @rejected-with scores carried over from an earlier query
 */
import { TopK } from '../../../shared/util/topk.ts';
import type { Searcher } from '../after.ts';
import type { Postings } from '../data.ts';

export type { Postings } from '../data.ts';
export type { Searcher } from '../after.ts';

export function createSearcher(postings: Postings): Searcher {
  const { termIds, offsets, labels, tfs, weight, norm } = postings;
  const scores = new Float32Array(postings.labelCount);
  const candidates = new Int32Array(postings.labelCount);
  const top = new TopK(16, { ties: 'lower-label' });
  return {
    search(terms, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
      let n = 0;
      for (const term of terms) {
        const t = termIds.get(term);
        if (t === undefined) continue;
        const w = weight[t];
        for (let i = offsets[t]; i < offsets[t + 1]; i++) {
          const l = labels[i];
          const tf = tfs[i];
          if (scores[l] === 0) candidates[n++] = l;
          scores[l] += (w * tf) / (tf + norm[l]);
        }
      }
      if (n === 0) return [];
      top.reset(Math.min(k, n));
      for (let i = 0; i < n; i++) top.push(candidates[i], scores[candidates[i]]);
      return top.drain();
    },
  };
}
