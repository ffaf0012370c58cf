/**
 * Keyword search (Okapi BM25) over chunks, written the way it usually starts: the "index" is the list of chunks, and
 * every query analyses every chunk again (tokenise, drop stop words, stem, count terms) before scoring it. Short and
 * obviously correct, and each query redoes the same work over the whole corpus: the profile of this file names
 * `tokenize` and `analyze` (self time) under `termFrequencies` (total time) as where the time goes.
 */
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { bm25, checkK, queryTerms, termFrequencies, type Hit } from './scoring.ts';

export type { Hit } from './scoring.ts';

export interface NaiveIndex {
  chunks: Chunk[];
  analyzer: Analyzer;
}

/** `analyzer` is injectable so a test can count how often it runs. Default: the engine's analyzer. */
export function buildIndex(chunks: Chunk[], analyzer: Analyzer = defaultAnalyzer): NaiveIndex {
  return { chunks, analyzer };
}

/** The k best chunks for `query`, best first (ties: earlier chunk first). */
export function search(index: NaiveIndex, query: string, k: number): Hit[] {
  checkK(k);
  const terms = queryTerms(index.analyzer, query);
  if (terms.length === 0 || index.chunks.length === 0) return [];

  // Analyse every chunk, on every query.
  const docs = index.chunks.map((c) => termFrequencies(index.analyzer, c.text));
  const avgLength = docs.reduce((sum, d) => sum + d.length, 0) / docs.length || 1;
  const df = new Map<string, number>();
  for (const t of terms) df.set(t, docs.filter((d) => d.tf.has(t)).length);

  const scored = docs.map((d, i) => ({ i, score: bm25(terms, d, df, docs.length, avgLength) }));
  scored.sort((a, b) => b.score - a.score || a.i - b.i);
  return scored
    .filter((s) => s.score > 0)
    .slice(0, k)
    .map((s) => ({ id: index.chunks[s.i].id, docId: index.chunks[s.i].docId, score: s.score }));
}
