/**
 * EXERCISE 00-profiling — move the hot spot out of the query path. Check with: npm run checkpoint -- 00-profiling
 *
 * First look at the profile of before.ts:
 *
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts
 *
 * The heaviest call path runs search → termFrequencies → analyze → tokenize / stemOf: every query analyses every
 * chunk again, although chunks never change between queries. `search` below is already written for an index whose
 * chunks were analysed once; what is missing is `buildIndex` (search for TODO):
 *
 *   - docs[i]   = termFrequencies(analyzer, chunks[i].text)     (term counts and length of chunk i)
 *   - df        = for every term, the number of chunks containing it (count each chunk once per distinct term)
 *   - avgLength = total length / number of chunks (use 1 when there are no chunks, as before.ts does)
 *
 * The results must be exactly before.ts's (same hits, same scores): only WHEN the analysis happens changes.
 * Then profile again with `--impl after` and see what is on top now. The solution is in after.ts; try first.
 */
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { bm25, checkK, queryTerms, termFrequencies, type Hit, type TermCounts } from './scoring.ts';

export type { Hit } from './scoring.ts';

export interface AnalysedIndex {
  chunks: Chunk[];
  analyzer: Analyzer;
  /** docs[i] = the analysed chunks[i]. */
  docs: TermCounts[];
  /** Number of chunks containing each term. */
  df: Map<string, number>;
  avgLength: number;
}

/** Analyse every chunk once. `analyzer` is injectable so a test can count how often it runs. */
export function buildIndex(chunks: Chunk[], analyzer: Analyzer = defaultAnalyzer): AnalysedIndex {
  void termFrequencies;
  // TODO: analyse each chunk once with termFrequencies, count document frequencies, compute the average length.
  throw new Error('TODO(00-profiling): analyse the chunks once in buildIndex (exercise.ts)');
}

/** The k best chunks for `query`, best first (ties: earlier chunk first). */
export function search(index: AnalysedIndex, query: string, k: number): Hit[] {
  checkK(k);
  const terms = queryTerms(index.analyzer, query);
  if (terms.length === 0 || index.chunks.length === 0) return [];

  const { docs, df, avgLength } = index;
  const scored = docs.map((d, i) => ({ i, score: bm25(terms, d, df, docs.length, avgLength) }));
  scored.sort((a, b) => b.score - a.score || a.i - b.i);
  return scored
    .filter((s) => s.score > 0)
    .slice(0, k)
    .map((s) => ({ id: index.chunks[s.i].id, docId: index.chunks[s.i].docId, score: s.score }));
}
