/**
 * BM25 term-at-a-time scoring over the engine's postings with the working memory of a query preallocated once, in the
 * searcher, and reused by every query. This is how the engine's own `Bm25Index.search` works (shared/index/bm25.ts:
 * its `acc`, `touched` and `cands` arrays, sized to the label space); here it is on its own, beside the version
 * that allocates per query.
 *
 * - The score buffer (a slot per label) and the candidate list (the labels that got a score, in an Int32Array as
 *   long as the label space, so it never grows) belong to the searcher.
 * - Resetting is the other half: only the slots the query wrote are set back to zero, from the candidate list, so a
 *   query costs O(postings it reads), not O(label space), and the next query starts from a clean buffer.
 * - One `TopK` heap is reset for each query (`reset(k)`; it grows only for a larger k than any before).
 *
 * What a query still allocates is its answer: the k hits it returns, which the caller keeps.
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
  // the query's working memory, allocated once: every query leaves the score buffer all zero again
  const scores = new Float32Array(postings.labelCount);
  const candidates = new Int32Array(postings.labelCount);
  const top = new TopK(16, { ties: 'lower-label' });
  return {
    search(terms, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
      const n = accumulate(postings, terms, scores, candidates);
      if (n === 0) return [];
      top.reset(Math.min(k, n));
      for (let i = 0; i < n; i++) top.push(candidates[i], scores[candidates[i]]);
      // back to zero, only where this query wrote
      for (let i = 0; i < n; i++) scores[candidates[i]] = 0;
      return top.drain();
    },
  };
}

/**
 * Adds the BM25 contribution of every posting of the query's terms to `scores` (a slot per label) and writes each
 * label it scores for the first time (its slot was 0) to `candidates`, from index 0 on. Returns how many it wrote.
 * Where the query has not scored yet, `scores` must be 0. A term repeated in the query counts once per occurrence;
 * unknown terms are ignored.
 */
export function accumulate(postings: Postings, terms: readonly string[], scores: Float32Array, candidates: { [i: number]: number }): number {
  const { termIds, offsets, labels, tfs, weight, norm } = postings;
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
  return n;
}
