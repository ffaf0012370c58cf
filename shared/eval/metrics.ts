/**
 * Ranking metrics over one query: `ranked` is the system's document ids, best first; `judged` maps document id →
 * relevance grade (> 0 relevant; 0 or negative: judged not relevant). Unjudged documents count as not relevant.
 * Average over queries yourself; queries with no relevant document score 0 here (skip them, as BEIR does).
 */

export interface NdcgOptions {
  /** 'exponential': gain 2^grade − 1 (default); 'linear': gain = grade (trec_eval / pytrec_eval). */
  gain?: 'exponential' | 'linear';
}

/** Normalised discounted cumulative gain at k: Σ gain(grade_i) / log2(i + 1) over ranks i = 1..k, over the ideal. */
export function ndcgAt(k: number, ranked: readonly string[], judged: ReadonlyMap<string, number>, opts: NdcgOptions = {}): number {
  const gain = opts.gain === 'linear' ? (g: number) => g : (g: number) => 2 ** g - 1;
  let dcg = 0;
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) {
    const g = judged.get(ranked[i]) ?? 0;
    if (g > 0) dcg += gain(g) / Math.log2(i + 2);
  }
  const ideal = [...judged.values()].filter((g) => g > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += gain(ideal[i]) / Math.log2(i + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

/** Fraction of the relevant documents (grade > 0) found in the top k. */
export function recallAt(k: number, ranked: readonly string[], judged: ReadonlyMap<string, number>): number {
  let relevant = 0;
  for (const g of judged.values()) if (g > 0) relevant++;
  if (relevant === 0) return 0;
  let found = 0;
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if ((judged.get(ranked[i]) ?? 0) > 0) found++;
  return found / relevant;
}

/** Reciprocal rank of the first relevant document within the top k (0 if none). */
export function mrrAt(k: number, ranked: readonly string[], judged: ReadonlyMap<string, number>): number {
  const n = Math.min(k, ranked.length);
  for (let i = 0; i < n; i++) if ((judged.get(ranked[i]) ?? 0) > 0) return 1 / (i + 1);
  return 0;
}
