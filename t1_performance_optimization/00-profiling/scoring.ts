/**
 * The BM25 arithmetic both versions share, so they return bit-identical scores: the lesson changes WHEN the work is
 * done (per query vs. once at build time), not the formula.
 */
import type { Analyzer } from '../../shared/text/analyzer.ts';

export interface Hit {
  /** The chunk's id (a content hash). */
  id: string;
  docId: string;
  /** BM25 score, > 0 (chunks that share no term with the query are not returned). */
  score: number;
}

/** One analysed chunk: term → count, and its length in terms. */
export interface TermCounts {
  tf: Map<string, number>;
  length: number;
}

/** Okapi BM25 parameters (Lucene's defaults, as in shared/index/bm25.ts). */
export const K1 = 1.2;
export const B = 0.75;

/** Analyse one text and count its terms. */
export function termFrequencies(analyzer: Analyzer, text: string): TermCounts {
  const terms = analyzer.analyze(text);
  const tf = new Map<string, number>();
  for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
  return { tf, length: terms.length };
}

/** Distinct query terms, in first-seen order (so every implementation sums them in the same order). */
export function queryTerms(analyzer: Analyzer, query: string): string[] {
  return [...new Set(analyzer.analyze(query))];
}

/** BM25 of one chunk: Σ over query terms of idf · tf·(k1+1) / (tf + k1·(1 − b + b·len/avgLen)). */
export function bm25(terms: string[], doc: TermCounts, df: Map<string, number>, n: number, avgLength: number): number {
  let score = 0;
  for (const t of terms) {
    const f = doc.tf.get(t);
    if (f === undefined) continue;
    const d = df.get(t) ?? 0;
    const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
    score += (idf * f * (K1 + 1)) / (f + K1 * (1 - B + (B * doc.length) / avgLength));
  }
  return score;
}

export function checkK(k: number): void {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`search: k must be a positive integer, got ${k}`);
}
