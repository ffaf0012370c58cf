/**
 * Wrong (on purpose): the candidates are in parallel typed arrays, not objects, but the arrays are made afresh for
 * every fusion, sized to its candidates. No object per candidate, and still several bytes allocated per candidate
 * per query: a typed array is garbage like any other, and one with more than 64 bytes of elements also costs a
 * malloc and a free outside the JS heap.
 *
 * What differs from after.ts: `reserve` allocates new arrays on every call instead of keeping the largest so far.
 * after.ts is the engine's `fuseTopK`, whose candidate table (`CandidateTable` in shared/retrieve/fusion.ts) is
 * private to that module and allocates inside its own fuse, so there is no seam to swap `reserve` through: the table
 * is kept here whole, as a fuser, with that one method changed.
 *
 * @rejected-with parallel arrays made per query
 */
import type { ScoredLabel } from '../../../shared/types.ts';
import { TopK } from '../../../shared/util/topk.ts';
import type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

export type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

/** Defaults as the engine's `fuse`: RRF with rrfK = 60, every list weighing 1. */
export function createFuser(opts: FusionOptions = {}): Fuser {
  return new SoaFuser(opts);
}

class SoaFuser implements Fuser {
  private readonly rrf: boolean;
  private readonly rrfK: number;
  private readonly weights: readonly number[] | undefined;
  /** Slots (candidates) the arrays hold, and lists per slot. */
  private cap = 0;
  private lists = 0;
  private slotLabel = new Int32Array(0);
  private slotScore = new Float64Array(0);
  /** slot × lists + list → that list's score for the slot's label (valid where slotHas is 1). */
  private slotSource = new Float64Array(0);
  private slotHas = new Uint8Array(0);
  /** Hash table: slot + 1 per entry, 0 = empty. Length 2^bits, at least twice `cap`. */
  private table = new Int32Array(0);
  private bits = 0;
  /** Where each slot's entry sits in the table, so a query empties exactly the entries it filled. */
  private slotAt = new Int32Array(0);
  private readonly top = new TopK(16, { ties: 'lower-label' });
  private topLabels = new Int32Array(0);
  private topScores = new Float64Array(0);

  constructor(opts: FusionOptions) {
    this.rrf = (opts.method ?? 'rrf') === 'rrf';
    this.rrfK = opts.rrfK ?? 60;
    this.weights = opts.weights;
  }

  fuse(lists: readonly (readonly ScoredLabel[])[], k: number): FusedLabel[] {
    if (!Number.isInteger(k) || k <= 0) throw new RangeError(`fuse: k must be a positive integer, got ${k}`);
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
      const w = this.weights?.[li] ?? 1;
      let min = Infinity;
      let max = -Infinity;
      if (!this.rrf) {
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
        // find the label's slot, or take the next free one
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
        slotScore[s] += this.rrf ? w / (this.rrfK + r + 1) : w * (span > 0 ? (hit.score - min) / span : 1);
        slotSource[s * L + li] = hit.score;
        slotHas[s * L + li] = 1;
      }
    }
    // the k best slots, best first, into parallel arrays; then the only objects of the query: its answer
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
    // empty the entries this query filled, for the next query
    for (let i = 0; i < m; i++) table[slotAt[i]] = 0;
    return out;
  }

  /** Fresh arrays for this query's `candidates` slots of `lists` lists (sized to the query, made every time). */
  private reserve(candidates: number, lists: number): void {
    let cap = 64;
    while (cap < candidates) cap *= 2;
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
