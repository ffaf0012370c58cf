/**
 * Wrong (on purpose): "sorting every chunk to keep 10 must be the slow part". The full sort is replaced by a bounded
 * selection that keeps the best k as it goes. A sound change, and nearly worthless here: the sort was never where a
 * query's time went. What the profile of exercise.ts names is left in place, so every query still repeats it.
 *
 * What differs from after.ts: buildIndex, its only function (exercise.ts's per-query corpus statistics and document
 * frequencies, with a bounded top-k instead of the sort); the types are after.ts's.
 *
 * @rejected-with the analyzer ran 203 times for 3 queries over 50 chunks
 */
import { defaultAnalyzer, type Analyzer } from '../../../shared/text/analyzer.ts';
import type { Chunk } from '../../../shared/types.ts';
import { bm25, checkK, queryTerms, termFrequencies, type Hit, type TermCounts } from '../scoring.ts';
import type { SearchIndex } from '../after.ts';

export type { Hit, SearchIndex } from '../after.ts';

function documentFrequencies(terms: string[], docs: TermCounts[]): Map<string, number> {
  const df = new Map<string, number>();
  for (const t of terms) {
    let n = 0;
    for (const d of docs) if (d.tf.has(t)) n++;
    df.set(t, n);
  }
  return df;
}

function corpusStats(chunks: Chunk[], analyzer: Analyzer): { n: number; avgLength: number } {
  let terms = 0;
  for (const c of chunks) terms += analyzer.analyze(c.text).length;
  return { n: chunks.length, avgLength: terms / chunks.length || 1 };
}

/** The indexes of the k best scores > 0, best first; a later chunk never displaces an equal earlier one. */
function bestK(scores: ArrayLike<number>, k: number): number[] {
  const kept: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s <= 0) continue;
    if (kept.length === k && s <= scores[kept[k - 1]]) continue;
    let at = kept.length;
    while (at > 0 && scores[kept[at - 1]] < s) at--;
    kept.splice(at, 0, i);
    if (kept.length > k) kept.pop();
  }
  return kept;
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
      const scores = new Float64Array(docs.length);
      for (let i = 0; i < docs.length; i++) scores[i] = bm25(terms, docs[i], df, n, avgLength);
      const hits = bestK(scores, k).map((i) => ({ id: chunks[i].id, docId: chunks[i].docId, score: scores[i] }));
      return JSON.parse(JSON.stringify(hits)) as Hit[];
    },
  };
}
