/**
 * EXERCISE 00-profiling — find where a query's time goes with a profiler, then fix only that.
 *
 * This search returns the right hits. It counts the terms of its chunks once, in buildIndex, and yet one query
 * takes dozens of times as long as one of after.ts's, not much less than one of before.ts's (measure it: the
 * "exercise" row). Several things in it look expensive; reading the code will not tell you which one is. A profile
 * will:
 *
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts --impl exercise              # node --cpu-prof
 *     npx tsx t1_performance_optimization/00-profiling/profile-in-process.ts --impl exercise   # the queries only
 *     npm run t1 -- --only 00-profiling --impl exercise --quick                                # time per query
 *
 * Change only what the profile names, then profile again.
 *
 * What must hold (`npm run checkpoint -- 00-profiling`):
 *   - the interface: buildIndex(chunks, analyzer?) → { size, search(query, k) }, the analyzer injectable;
 *   - the hits of before.ts: the same chunks in the same order, scores equal (within 1e-9), best first, ties to the
 *     earlier chunk, only scores > 0, nothing for a query of stop words or an empty corpus, a RangeError for a bad k;
 *   - no repeated work: work whose answer cannot change inside a loop (over chunks, or over queries) is done once,
 *     not once per turn of that loop. The checkpoint counts that work over a build and a few queries and rejects the
 *     search if it is repeated; it times nothing.
 *
 * Stuck? npm run hint -- 00-profiling
 */
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { bm25, checkK, queryTerms, termFrequencies, type Hit, type TermCounts } from './scoring.ts';

export type { Hit } from './scoring.ts';

/** A searchable index over chunks. */
export interface SearchIndex {
  /** Number of chunks in the index. */
  readonly size: number;
  /** The k best chunks for `query`, best first (ties: earlier chunk first); only chunks with a score > 0. */
  search(query: string, k: number): Hit[];
}

/** Number of chunks that contain each term. */
function documentFrequencies(terms: string[], docs: TermCounts[]): Map<string, number> {
  const df = new Map<string, number>();
  for (const t of terms) {
    let n = 0;
    for (const d of docs) if (d.tf.has(t)) n++;
    df.set(t, n);
  }
  return df;
}

/** The corpus-wide figures BM25 needs: the number of chunks and their mean length in index terms. */
function corpusStats(chunks: Chunk[], analyzer: Analyzer): { n: number; avgLength: number } {
  let terms = 0;
  for (const c of chunks) terms += analyzer.analyze(c.text).length;
  return { n: chunks.length, avgLength: terms / chunks.length || 1 };
}

/** Best first; ties: the earlier chunk first. */
function byScore(a: { i: number; score: number }, b: { i: number; score: number }): number {
  return b.score - a.score || a.i - b.i;
}

export function buildIndex(chunks: Chunk[], analyzer: Analyzer = defaultAnalyzer): SearchIndex {
  const docs = chunks.map((c) => termFrequencies(analyzer, c.text));

  return {
    size: chunks.length,
    search(query: string, k: number): Hit[] {
      checkK(k);
      const terms = queryTerms(analyzer, query);
      if (terms.length === 0 || chunks.length === 0) return [];

      const { n, avgLength } = corpusStats(chunks, analyzer);
      const df = documentFrequencies(terms, docs);
      const scored = docs.map((d, i) => ({ i, score: bm25(terms, d, df, n, avgLength) }));
      scored.sort(byScore);
      const hits = scored
        .filter((s) => s.score > 0)
        .slice(0, k)
        .map((s) => ({ id: chunks[s.i].id, docId: chunks[s.i].docId, score: s.score }));
      // callers get their own copy, never objects the index holds on to
      return JSON.parse(JSON.stringify(hits)) as Hit[];
    },
  };
}
