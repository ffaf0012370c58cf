/**
 * Wrong (on purpose): the buffers are allocated once and reused, and each query starts by zeroing the whole score
 * buffer. Nothing is allocated per query and the results are right, but every query writes a zero into every slot of
 * the label space, however few documents it touched: the same memory traffic as the zeroed buffer the allocation
 * used to hand it, paid on every query.
 *
 * What differs from after.ts: createSearcher's reset (the whole buffer before scoring instead of the slots the query
 * wrote); the scoring (`accumulate`) and the types are after.ts's.
 *
 * @rejected-with score slots reset per query
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
      scores.fill(0);
      const n = accumulate(postings, terms, scores, candidates);
      if (n === 0) return [];
      top.reset(Math.min(k, n));
      for (let i = 0; i < n; i++) top.push(candidates[i], scores[candidates[i]]);
      return top.drain();
    },
  };
}
