/**
 * Wrong (on purpose): a pool of query buffers that hands them out and never gets them back. Each query takes a
 * scratch (score buffer, candidate list, heap) from the pool, finds it empty and allocates one, and the pool keeps a
 * reference to every scratch it ever made "for reuse". Nothing is reused, every query allocates as much as before.ts,
 * and none of it can be collected: the searcher's memory grows with every query.
 *
 * What differs from after.ts: createSearcher takes its buffers from `acquire()` per query and never calls
 * `release()`; the scoring (`accumulate`), the reset of the slots written and the types are after.ts's.
 *
 * @rejected-with held on to
 */
import { TopK } from '../../../shared/util/topk.ts';
import { accumulate, type Postings, type Searcher } from '../after.ts';

export { accumulate, type Postings, type Searcher } from '../after.ts';

interface Scratch {
  scores: Float32Array;
  candidates: Int32Array;
  top: TopK;
}

export function createSearcher(postings: Postings): Searcher {
  const free: Scratch[] = [];
  const all: Scratch[] = [];
  const acquire = (): Scratch => {
    const s = free.pop();
    if (s) return s;
    const made = {
      scores: new Float32Array(postings.labelCount),
      candidates: new Int32Array(postings.labelCount),
      top: new TopK(16, { ties: 'lower-label' }),
    };
    all.push(made);
    return made;
  };
  // meant to be called when a query is done with its scratch
  const release = (s: Scratch): void => {
    free.push(s);
  };
  void release;
  return {
    search(terms, k) {
      if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
      const { scores, candidates, top } = acquire();
      const n = accumulate(postings, terms, scores, candidates);
      if (n === 0) return [];
      top.reset(Math.min(k, n));
      for (let i = 0; i < n; i++) top.push(candidates[i], scores[candidates[i]]);
      for (let i = 0; i < n; i++) scores[candidates[i]] = 0;
      return top.drain();
    },
  };
}
