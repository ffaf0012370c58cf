/**
 * Keyword search (Okapi BM25) over chunks, written the way it usually starts: `buildIndex` keeps the chunks, and every
 * query analyses every chunk (tokenise, drop stop words, stem, count terms), counts document frequencies, scores
 * every chunk and sorts them all. Short and obviously correct. Which of those steps is slow is for the profiler to
 * say (README, "Step 1").
 */
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { bm25, checkK, queryTerms, termFrequencies, type Hit } from './scoring.ts';

export type { Hit } from './scoring.ts';

/** A searchable index over chunks. */
export interface SearchIndex {
  /** Number of chunks in the index. */
  readonly size: number;
  /** The k best chunks for `query`, best first (ties: earlier chunk first); only chunks with a score > 0. */
  search(query: string, k: number): Hit[];
}

/** `analyzer` is injectable so a test can count how often it runs. Default: the engine's analyzer. */
export function buildIndex(chunks: Chunk[], analyzer: Analyzer = defaultAnalyzer): SearchIndex {
  return {
    size: chunks.length,
    search(query: string, k: number): Hit[] {
      checkK(k);
      const terms = queryTerms(analyzer, query);
      if (terms.length === 0 || chunks.length === 0) return [];

      const docs = chunks.map((c) => termFrequencies(analyzer, c.text));
      const avgLength = docs.reduce((sum, d) => sum + d.length, 0) / docs.length || 1;
      const df = new Map<string, number>();
      for (const t of terms) df.set(t, docs.filter((d) => d.tf.has(t)).length);

      const scored = docs.map((d, i) => ({ i, score: bm25(terms, d, df, docs.length, avgLength) }));
      scored.sort((a, b) => b.score - a.score || a.i - b.i);
      return scored
        .filter((s) => s.score > 0)
        .slice(0, k)
        .map((s) => ({ id: chunks[s.i].id, docId: chunks[s.i].docId, score: s.score }));
    },
  };
}
