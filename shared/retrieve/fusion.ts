import type { ScoredLabel } from '../types.ts';
import { TopK } from '../util/topk.ts';

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

/**
 * `fuse(lists, opts).slice(0, k)`, the same hits in the same order, without an object per candidate: the candidates
 * live in parallel typed arrays (label, fused score, per-list score) found through an open-addressing hash table in
 * an Int32Array, all kept and reused from call to call (they grow only past the most candidates seen), and the k best
 * are picked with the TopK heap. Only the k hits returned are objects. Why, and what it saves per query:
 * t2_memory_storage_optimization/02-object-reuse. Synchronous and not re-entrant (it calls nothing back), so one
 * scratch per process serves every call.
 */
export function fuseTopK(lists: readonly (readonly ScoredLabel[])[], k: number, opts: FusionOptions = {}): FusedLabel[] {
  return scratch.fuse(lists, k, (opts.method ?? 'rrf') === 'rrf', opts.rrfK ?? 60, opts.weights);
}

/**
 * `fuseTopK`'s candidate table, exported for t2_memory_storage_optimization/02-object-reuse, whose wrong solution
 * replaces `reserve` (how the arrays are obtained) with one that makes them afresh per fusion. The engine uses the
 * one instance below.
 */
export class CandidateTable {
  /** Slots the arrays hold, and lists per slot. */
  private cap = 0;
  private lists = 0;
  private slotLabel = new Int32Array(0);
  private slotScore = new Float64Array(0);
  /** slot × lists + list → that list's score for the slot's label (valid where slotHas is 1). */
  private slotSource = new Float64Array(0);
  private slotHas = new Uint8Array(0);
  /** Hash table: slot + 1 per entry, 0 = empty; 2^bits entries, at least twice `cap`. */
  private table = new Int32Array(0);
  private bits = 0;
  /** Where each slot's entry sits in the table, so a call empties exactly the entries it filled. */
  private slotAt = new Int32Array(0);
  private readonly top = new TopK(16, { ties: 'lower-label' });
  private topLabels = new Int32Array(0);
  private topScores = new Float64Array(0);

  fuse(lists: readonly (readonly ScoredLabel[])[], k: number, rrf: boolean, rrfK: number, weights: number[] | undefined): FusedLabel[] {
    if (!Number.isInteger(k) || k <= 0) throw new RangeError(`fuseTopK: k must be a positive integer, got ${k}`);
    const L = lists.length;
    let total = 0;
    for (let li = 0; li < L; li++) total += lists[li].length;
    if (total === 0) return [];
    this.reserve(total, L);
    const { slotLabel, slotScore, slotSource, slotHas, slotAt, table } = this;
    const mask = table.length - 1;
    const shift = 32 - this.bits;
    let m = 0;
    for (let li = 0; li < L; li++) {
      const list = lists[li];
      const n = list.length;
      if (n === 0) continue;
      const w = weights?.[li] ?? 1;
      let min = Infinity;
      let max = -Infinity;
      if (!rrf) {
        for (let r = 0; r < n; r++) {
          const s = list[r].score;
          if (s < min) min = s;
          if (s > max) max = s;
        }
      }
      const span = max - min;
      for (let r = 0; r < n; r++) {
        const hit = list[r];
        const label = hit.label;
        let h = Math.imul(label, 0x9e3779b1) >>> shift;
        let s = table[h] - 1;
        while (s >= 0 && slotLabel[s] !== label) {
          h = (h + 1) & mask;
          s = table[h] - 1;
        }
        if (s < 0) {
          s = m++;
          table[h] = s + 1;
          slotAt[s] = h;
          slotLabel[s] = label;
          slotScore[s] = 0;
          for (let j = s * L; j < s * L + L; j++) slotHas[j] = 0;
        }
        // the same additions, in the same order, as reciprocalRankFusion / weightedScoreFusion: the same doubles
        slotScore[s] += rrf ? w / (rrfK + r + 1) : w * (span > 0 ? (hit.score - min) / span : 1);
        slotSource[s * L + li] = hit.score;
        slotHas[s * L + li] = 1;
      }
    }
    const top = this.top.reset(Math.min(k, m));
    for (let s = 0; s < m; s++) top.push(slotLabel[s], slotScore[s]);
    const n = top.drainInto(this.topLabels, this.topScores);
    const out: FusedLabel[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const label = this.topLabels[i];
      let h = Math.imul(label, 0x9e3779b1) >>> shift;
      while (slotLabel[table[h] - 1] !== label) h = (h + 1) & mask;
      const s = table[h] - 1;
      const sources: (number | undefined)[] = new Array(L);
      for (let li = 0; li < L; li++) sources[li] = slotHas[s * L + li] === 1 ? slotSource[s * L + li] : undefined;
      out[i] = { label, score: this.topScores[i], sources };
    }
    for (let i = 0; i < m; i++) table[slotAt[i]] = 0;
    return out;
  }

  /** Arrays for at least `candidates` slots of `lists` lists: the ones it has, grown (doubling) only when too small. */
  protected reserve(candidates: number, lists: number): void {
    if (candidates <= this.cap && lists === this.lists) return;
    let cap = Math.max(this.cap, 64);
    while (cap < candidates) cap *= 2;
    this.allocate(cap, lists);
  }

  /** New arrays for `cap` slots of `lists` lists (what they held is dropped). */
  protected allocate(cap: number, lists: number): void {
    this.cap = cap;
    this.lists = lists;
    this.slotLabel = new Int32Array(cap);
    this.slotScore = new Float64Array(cap);
    this.slotSource = new Float64Array(cap * lists);
    this.slotHas = new Uint8Array(cap * lists);
    this.bits = 31 - Math.clz32(cap * 2);
    this.table = new Int32Array(cap * 2);
    this.slotAt = new Int32Array(cap);
    this.topLabels = new Int32Array(cap);
    this.topScores = new Float64Array(cap);
  }
}

const scratch = new CandidateTable();
