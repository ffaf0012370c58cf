import type { ScoredLabel } from '../types.ts';

/**
 * Bounded top-k selection with a binary min-heap over parallel typed arrays: O(n log k), no per-candidate
 * allocation. `push` keeps the k highest scores seen; `drain` returns them best first, equal scores lower label first.
 *
 * Equal scores at the k-th place: by default a candidate must score strictly above the lowest score kept (the
 * `threshold` callers pre-filter with), so which of several equal scores stays depends on the order they came in.
 * With `{ ties: 'lower-label' }` the heap keeps the lower labels whatever the order: a candidate that only equals the
 * threshold enters when its label is lower (a caller that pre-filters must let such scores through).
 *
 * A heap can serve one query after another: `reset(k)` empties it for a new selection and reuses its arrays (they
 * grow only when a k larger than any before is asked for), so a searcher that keeps one heap allocates none per
 * query (t2_memory_storage_optimization/01-memory-pool). `drain` empties it too.
 */
export class TopK {
  private kk: number;
  private readonly lowerLabelTies: boolean;
  private labels: Int32Array;
  private scores: Float64Array;
  private n = 0;

  constructor(k: number, opts: TopKOptions = {}) {
    checkK(k);
    this.kk = k;
    this.lowerLabelTies = opts.ties === 'lower-label';
    this.labels = new Int32Array(k);
    this.scores = new Float64Array(k);
  }

  /** How many entries the heap keeps. */
  get k(): number {
    return this.kk;
  }

  /** Entries the arrays hold before `reset` must grow them. */
  get capacity(): number {
    return this.labels.length;
  }

  /** Empties the heap for a new selection of the best `k` (default: the same k). Returns the heap. */
  reset(k: number = this.kk): this {
    checkK(k);
    if (k > this.labels.length) {
      this.labels = new Int32Array(k);
      this.scores = new Float64Array(k);
    }
    this.kk = k;
    this.n = 0;
    return this;
  }

  get size(): number {
    return this.n;
  }

  /** The lowest score kept, or -Infinity while fewer than k are held: a candidate must beat it to enter. */
  get threshold(): number {
    return this.n < this.kk ? -Infinity : this.scores[0];
  }

  /** Offers a candidate: kept if it is among the k best so far (equal scores: see the class comment). */
  push(label: number, score: number): void {
    const scores = this.scores;
    const labels = this.labels;
    if (this.n < this.kk) {
      let i = this.n++;
      // sift up while the parent is better than the newcomer (the root is the worst entry kept)
      while (i > 0) {
        const p = (i - 1) >> 1;
        const ps = scores[p];
        if (ps < score || (ps === score && labels[p] > label)) break;
        scores[i] = ps;
        labels[i] = labels[p];
        i = p;
      }
      scores[i] = score;
      labels[i] = label;
      return;
    }
    // must beat the worst entry kept: score higher, or (lower-label ties) score the same with a lower label
    const rs = scores[0];
    if (score <= rs && !(this.lowerLabelTies && score === rs && label < labels[0])) return;
    // replace the root, sift down: move up the worse child while it is worse than the newcomer
    let i = 0;
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (scores[r] < scores[l] || (scores[r] === scores[l] && labels[r] > labels[l])) ? r : l;
      const cs = scores[c];
      if (!(cs < score || (cs === score && labels[c] > label))) break;
      scores[i] = cs;
      labels[i] = labels[c];
      i = c;
    }
    scores[i] = score;
    labels[i] = label;
  }

  /** The kept entries, best first (ties by lower label first). Empties the heap. */
  drain(): ScoredLabel[] {
    const n = this.n;
    const out: ScoredLabel[] = new Array(n);
    // pop the worst entry kept into the last free place, n times: best first, with no sort and no array but `out`
    for (let i = n - 1; i >= 0; i--) {
      out[i] = { label: this.labels[0], score: this.scores[0] };
      this.popRoot();
    }
    return out;
  }

  /**
   * The kept entries, best first (ties by lower label first), written into `labels` and `scores` (each at least
   * `size` long) instead of objects: for a caller that keeps candidates in parallel arrays. Returns how many were
   * written. Empties the heap.
   */
  drainInto(labels: Int32Array, scores: Float64Array | Float32Array): number {
    const n = this.n;
    if (labels.length < n || scores.length < n) {
      throw new RangeError(`TopK.drainInto: arrays hold ${Math.min(labels.length, scores.length)}, ${n} entries to write`);
    }
    for (let i = n - 1; i >= 0; i--) {
      labels[i] = this.labels[0];
      scores[i] = this.scores[0];
      this.popRoot();
    }
    return n;
  }

  /** Removes the root (the worst entry kept): the last entry takes its place and sinks. */
  private popRoot(): void {
    const n = --this.n;
    if (n === 0) return;
    const scores = this.scores;
    const labels = this.labels;
    const score = scores[n];
    const label = labels[n];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (scores[r] < scores[l] || (scores[r] === scores[l] && labels[r] > labels[l])) ? r : l;
      const cs = scores[c];
      if (!(cs < score || (cs === score && labels[c] > label))) break;
      scores[i] = cs;
      labels[i] = labels[c];
      i = c;
    }
    scores[i] = score;
    labels[i] = label;
  }
}

export interface TopKOptions {
  /**
   * Which of several equal scores at the k-th place is kept. 'first' (default): the ones that came first (a
   * candidate must beat the threshold strictly). 'lower-label': the lower labels, whatever the order.
   */
  ties?: 'first' | 'lower-label';
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`TopK: k must be a positive integer, got ${k}`);
}
