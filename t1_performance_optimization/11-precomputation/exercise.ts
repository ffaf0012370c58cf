/**
 * EXERCISE 11-precomputation — move work out of the query path, and decide what goes stale when the index changes.
 *
 * As shipped it is correct and computes everything per query: every search recounts the document frequency of every
 * term by scanning every document, derives each IDF, recomputes the weight and the norm of every document it
 * scores, and `precompute` keeps nothing, so the most popular queries of the log are scored from scratch each time.
 *
 * What must hold (checked by `npm run checkpoint -- 11-precomputation`):
 *   - every answer equals a fresh computation over the documents indexed at that moment: the same labels in the
 *     same order, scores equal to within 1e-9, including right after `add`, including answers to queries that were
 *     precomputed (for any k: below, at and above the k they were kept for);
 *   - weights (1 + ln tf) · idf(t) with idf(t) = ln(1 + N / df(t)), score = cosine; ties: lower label first;
 *     documents that share no term with the query are left out;
 *   - `precompute(queries, k)` keeps those queries' answers, and a later search for one of them is served without
 *     scoring (counted in `stats().hits`; everything else counts as a miss); an index change must not leave a
 *     popular query without a precomputed answer for good;
 *   - a search does no work per document that depends only on the documents: no logarithm and no square root per
 *     document on a query (the checkpoint counts Math.log and Math.sqrt calls);
 *   - results are copies (a caller editing them changes nothing), RagError INVALID_INPUT for a bad k or query.
 *
 * The checkpoint rejects, in these terms: logarithms or square roots taken per document on a query; precomputed
 * queries that are still scored; a precomputed answer served after a document was added that changes it; scores
 * computed with an IDF from before the last add.
 *
 * Measure yours beside before and after (mean time per query on a Zipf-distributed query log):
 *   npm run t1 -- --only 11-precomputation --impl exercise --quick
 * Stuck? npm run hint -- 11-precomputation
 */
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { RagError } from '../../shared/errors.ts';
import { TopK } from '../../shared/util/topk.ts';
import type { ScoredLabel } from '../../shared/types.ts';

export type Hit = ScoredLabel;

export interface CacheStats {
  /** Searches answered from precomputed results. */
  hits: number;
  /** Searches computed on the spot. */
  misses: number;
  /** Queries whose results are currently precomputed. */
  entries: number;
}

export interface TfIdfSearcher {
  /** Documents indexed; labels are 0 … size − 1 in the order added. */
  readonly size: number;
  /** Index one more document; returns its label. */
  add(text: string): number;
  /** The k best documents for `query`, best first (ties: lower label first); documents sharing no term are left out. */
  search(query: string, k: number): Hit[];
  /** Compute and keep the results of these (popular) queries, for k up to `k` (default 10). */
  precompute(queries: string[], k?: number): void;
  stats(): CacheStats;
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const docs: Map<string, number>[] = [];
  let misses = 0;

  const add = (text: string): number => {
    if (typeof text !== 'string') throw new RagError('INVALID_INPUT', `add: text must be a string, got ${typeof text}`);
    const tf = new Map<string, number>();
    for (const t of defaultAnalyzer.analyze(text)) tf.set(t, (tf.get(t) ?? 0) + 1);
    docs.push(tf);
    return docs.length - 1;
  };
  for (const t of texts) add(t);

  return {
    get size() {
      return docs.length;
    },
    add,
    search(query: string, k: number): Hit[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (typeof query !== 'string') throw new RagError('INVALID_INPUT', `search: query must be a string, got ${typeof query}`);
      misses++;
      const n = docs.length;
      // document frequencies, from scratch
      const df = new Map<string, number>();
      for (const d of docs) for (const t of d.keys()) df.set(t, (df.get(t) ?? 0) + 1);
      const idf = (t: string) => Math.log(1 + n / df.get(t)!);
      // the query vector
      const qtf = new Map<string, number>();
      for (const t of defaultAnalyzer.analyze(query)) if (df.has(t)) qtf.set(t, (qtf.get(t) ?? 0) + 1);
      if (qtf.size === 0) return [];
      const qTerms = [...qtf.keys()];
      const qw = qTerms.map((t) => (1 + Math.log(qtf.get(t)!)) * idf(t));
      let qss = 0;
      for (const w of qw) qss += w * w;
      const qn = Math.sqrt(qss);
      // score every document, recomputing its norm
      const top = new TopK(Math.min(k, n));
      docs.forEach((d, label) => {
        let dot = 0;
        for (let i = 0; i < qTerms.length; i++) {
          const tf = d.get(qTerms[i]);
          if (tf !== undefined) dot += qw[i] * ((1 + Math.log(tf)) * idf(qTerms[i]));
        }
        if (dot === 0) return;
        let dss = 0;
        for (const [t, tf] of d) {
          const w = (1 + Math.log(tf)) * idf(t);
          dss += w * w;
        }
        top.push(label, dot / (qn * Math.sqrt(dss)));
      });
      return top.drain();
    },
    precompute() {},
    stats() {
      return { hits: 0, misses, entries: 0 };
    },
  };
}
