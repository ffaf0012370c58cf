/**
 * The same BM25 search with the hot spot the profile named moved out of the query path: `buildIndex` analyses every
 * chunk ONCE (term counts, lengths, document frequencies of every term), and `search` analyses only the query.
 *
 * Nothing else changed (same formula from scoring.ts, same scoring of every chunk, same full sort), so the results
 * are bit-identical and the speed-up is exactly what the analysis cost per query. Profile this file next
 * (`profile.ts --impl after`) and the top of the table is now the scoring loop: the next hot spot, which an inverted
 * index (shared/index/bm25.ts) removes by touching only the chunks that contain a query term.
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

/** Analyse every chunk once. `analyzer` is injectable so a test can count how often it runs. */
export function buildIndex(chunks: Chunk[], analyzer: Analyzer = defaultAnalyzer): SearchIndex {
  const docs = chunks.map((c) => termFrequencies(analyzer, c.text));
  const df = new Map<string, number>();
  let total = 0;
  for (const d of docs) {
    total += d.length;
    for (const t of d.tf.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  }
  const avgLength = total / docs.length || 1;

  return {
    size: chunks.length,
    search(query: string, k: number): Hit[] {
      checkK(k);
      const terms = queryTerms(analyzer, query);
      if (terms.length === 0 || chunks.length === 0) return [];

      const scored = docs.map((d, i) => ({ i, score: bm25(terms, d, df, docs.length, avgLength) }));
      scored.sort((a, b) => b.score - a.score || a.i - b.i);
      return scored
        .filter((s) => s.score > 0)
        .slice(0, k)
        .map((s) => ({ id: chunks[s.i].id, docId: chunks[s.i].docId, score: s.score }));
    },
  };
}
