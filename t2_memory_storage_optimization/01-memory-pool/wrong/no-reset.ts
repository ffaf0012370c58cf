/**
 * Wrong (on purpose): the score buffer and the candidate list are allocated once and reused, but nothing sets the
 * scores back to zero after a query. The first query is right; every later one starts from the scores the queries
 * before it left behind (and a label they scored never counts as a candidate again).
 *
 * What differs from after.ts: createSearcher, without the reset after the heap is filled; the scoring
 * (`accumulate`) and the types are after.ts's.
 *
 * @rejected-with scores carried over from an earlier query
 */
import { TopK } from '../../../shared/util/topk.ts';
import { accumulate, type Postings, type Searcher } from '../after.ts';

export { accumulate, type Postings, type Searcher } from '../after.ts';

export function createSearcher(postings: Postings): Searcher {
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
      return top.drain(); // and the n slots this query wrote stay as they are
    },
  };
}
