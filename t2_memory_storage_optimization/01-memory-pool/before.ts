/**
 * BM25 term-at-a-time scoring over the engine's postings, written the way it usually starts: every query allocates
 * what it works in.
 *
 * - a score buffer with a slot for every label in the index (`new Float32Array(labelCount)`, zeroed by the
 *   allocator), so that adding a posting's score is one indexed write;
 * - a candidate list of the labels that got a score, grown by `push`;
 * - a fresh top-k heap (`TopK`, shared/util/topk.ts: two typed arrays of k).
 *
 * Each is garbage as soon as the query returns. The score buffer alone is 4 bytes × the label space per query,
 * however few documents the query touches.
 */
import type { ScoredLabel } from '../../shared/types.ts';
import { TopK } from '../../shared/util/topk.ts';
import type { Postings } from './data.ts';

export type { Postings } from './data.ts';

export interface Searcher {
  /**
   * The k best labels for the (analysed) query terms by BM25, best first (equal scores: lower label first). A term
   * repeated in the query counts once per occurrence; unknown terms are ignored. Fewer than k when fewer documents
   * match. Throws a RangeError when k is not a positive integer.
   */
  search(terms: readonly string[], k: number): ScoredLabel[];
}

export function createSearcher(postings: Postings): Searcher {
  const { termIds, offsets, labels, tfs, weight, norm } = postings;
  return {
    search(terms, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
      const scores = new Float32Array(postings.labelCount);
      const candidates: number[] = [];
      for (const term of terms) {
        const t = termIds.get(term);
        if (t === undefined) continue;
        const w = weight[t];
        for (let i = offsets[t]; i < offsets[t + 1]; i++) {
          const l = labels[i];
          const tf = tfs[i];
          if (scores[l] === 0) candidates.push(l);
          scores[l] += (w * tf) / (tf + norm[l]);
        }
      }
      if (candidates.length === 0) return [];
      const top = new TopK(Math.min(k, candidates.length), { ties: 'lower-label' });
      for (const l of candidates) top.push(l, scores[l]);
      return top.drain();
    },
  };
}
