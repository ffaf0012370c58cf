import type { ScoredLabel } from '../types.ts';

/** How ranked lists from several retrievers are merged into one. */
export type FusionMethod = 'rrf' | 'weighted';

export interface FusionOptions {
  /** 'rrf' (reciprocal rank fusion) or 'weighted' (min-max normalised scores, weighted sum). Default 'rrf'. */
  method?: FusionMethod;
  /** RRF constant: score = Σ w / (rrfK + rank). Default 60 (Cormack et al. 2009). */
  rrfK?: number;
  /** Per-list weights, in the order the lists are given. Default: 1 for each list. */
  weights?: number[];
}

/** A fused hit: the fused score plus each input list's own score (undefined where the list did not return it). */
export interface FusedLabel {
  label: number;
  score: number;
  sources: (number | undefined)[];
}

/**
 * Reciprocal rank fusion: each list contributes w / (k + rank) for every label it returns (rank is 1-based).
 * Insensitive to the scale of the scores, so BM25 and cosine lists combine without calibration.
 */
export function reciprocalRankFusion(lists: ScoredLabel[][], rrfK = 60, weights?: number[]): FusedLabel[] {
  const fused = new Map<number, FusedLabel>();
  lists.forEach((list, li) => {
    const w = weights?.[li] ?? 1;
    list.forEach((hit, rank) => {
      let f = fused.get(hit.label);
      if (!f) {
        f = { label: hit.label, score: 0, sources: new Array(lists.length).fill(undefined) };
        fused.set(hit.label, f);
      }
      f.score += w / (rrfK + rank + 1);
      f.sources[li] = hit.score;
    });
  });
  return sortFused([...fused.values()]);
}

/**
 * Weighted normalised-score fusion: each list's scores are min-max normalised to [0, 1] and summed with weights.
 * A label missing from a list gets 0 from it. Uses the score gaps that RRF throws away.
 */
export function weightedScoreFusion(lists: ScoredLabel[][], weights?: number[]): FusedLabel[] {
  const fused = new Map<number, FusedLabel>();
  lists.forEach((list, li) => {
    if (list.length === 0) return;
    const w = weights?.[li] ?? 1;
    let min = Infinity;
    let max = -Infinity;
    for (const h of list) {
      if (h.score < min) min = h.score;
      if (h.score > max) max = h.score;
    }
    const span = max - min;
    for (const hit of list) {
      const norm = span > 0 ? (hit.score - min) / span : 1;
      let f = fused.get(hit.label);
      if (!f) {
        f = { label: hit.label, score: 0, sources: new Array(lists.length).fill(undefined) };
        fused.set(hit.label, f);
      }
      f.score += w * norm;
      f.sources[li] = hit.score;
    }
  });
  return sortFused([...fused.values()]);
}

export function fuse(lists: ScoredLabel[][], opts: FusionOptions = {}): FusedLabel[] {
  const method = opts.method ?? 'rrf';
  return method === 'rrf'
    ? reciprocalRankFusion(lists, opts.rrfK ?? 60, opts.weights)
    : weightedScoreFusion(lists, opts.weights);
}

function sortFused(list: FusedLabel[]): FusedLabel[] {
  return list.sort((a, b) => b.score - a.score || a.label - b.label);
}
