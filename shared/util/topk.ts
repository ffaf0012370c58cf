import type { ScoredLabel } from '../types.ts';

/**
 * Bounded top-k selection with a binary min-heap over parallel typed arrays: O(n log k), no per-candidate
 * allocation. `push` keeps the k highest scores seen; `drain` returns them best first.
 */
export class TopK {
  readonly k: number;
  private readonly labels: Int32Array;
  private readonly scores: Float64Array;
  private n = 0;

  constructor(k: number) {
    if (!Number.isInteger(k) || k <= 0) throw new RangeError(`TopK: k must be a positive integer, got ${k}`);
    this.k = k;
    this.labels = new Int32Array(k);
    this.scores = new Float64Array(k);
  }

  get size(): number {
    return this.n;
  }

  /** The lowest score kept, or -Infinity while fewer than k are held: a candidate must beat it to enter. */
  get threshold(): number {
    return this.n < this.k ? -Infinity : this.scores[0];
  }

  push(label: number, score: number): void {
    if (this.n < this.k) {
      let i = this.n++;
      // sift up
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (this.scores[p] <= score) break;
        this.scores[i] = this.scores[p];
        this.labels[i] = this.labels[p];
        i = p;
      }
      this.scores[i] = score;
      this.labels[i] = label;
      return;
    }
    if (score <= this.scores[0]) return;
    // replace root, sift down
    let i = 0;
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.scores[r] < this.scores[l] ? r : l;
      if (this.scores[c] >= score) break;
      this.scores[i] = this.scores[c];
      this.labels[i] = this.labels[c];
      i = c;
    }
    this.scores[i] = score;
    this.labels[i] = label;
  }

  /** The kept entries, best first (ties by lower label first). Empties the heap. */
  drain(): ScoredLabel[] {
    const out: ScoredLabel[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = { label: this.labels[i], score: this.scores[i] };
    this.n = 0;
    out.sort((a, b) => b.score - a.score || a.label - b.label);
    return out;
  }
}
