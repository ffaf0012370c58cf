/**
 * TF-IDF cosine search computed entirely at query time, the way it is usually first written: the index is just each
 * document's term counts, and every query recounts the document frequency of every term (one scan of every document),
 * derives the IDF table, recomputes the norm of every document vector, and only then scores.
 *
 * Weights: w(t, d) = (1 + ln tf) · idf(t), idf(t) = ln(1 + N / df(t)); score = (q · d) / (‖q‖ · ‖d‖).
 * `precompute` does nothing here: every query is computed from scratch.
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
