/**
 * EXERCISE 01-memory-pool — make a query allocate nothing but its answer, without changing what it returns.
 *
 * As shipped it is correct and wasteful: every query allocates a score buffer with a slot for every label in the
 * index, a candidate list it grows one label at a time, and a fresh top-k heap, and drops them all when it returns.
 * The score buffer alone is 4 bytes per label of the index, on every query, for a handful of hits; the garbage
 * collector pays for all of it.
 *
 * What must hold (checked by `npm run checkpoint -- 01-memory-pool`):
 *
 *   - the same hits as before.ts for every query, in any order of queries and any k: a query must never see what an
 *     earlier query left behind;
 *   - the hits a caller already holds do not change when the next query runs;
 *   - once warmed up, a query creates no typed array (counted by swapping the typed-array constructors);
 *   - a query resets no more score slots than it wrote;
 *   - the bytes a query allocates do not grow with the size of the label space, and the searcher's own memory stays
 *     the same however many queries it answers.
 *
 * Measure yours beside before and after: npm run t2 -- --only 01-memory-pool --impl exercise --quick
 * Stuck? npm run hint -- 01-memory-pool
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
  return {
    search(terms, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
      const scores = new Float32Array(postings.labelCount);
      const candidates: number[] = [];
      accumulate(postings, terms, scores, candidates);
      if (candidates.length === 0) return [];
      const top = new TopK(Math.min(k, candidates.length), { ties: 'lower-label' });
      for (const l of candidates) top.push(l, scores[l]);
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
