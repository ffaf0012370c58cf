import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel } from '../types.ts';
import { TopK } from '../util/topk.ts';
import { decodeBm25, encodeBm25 } from './bm25-format.ts';

export interface Bm25Options {
  /** Term-frequency saturation. Default 1.2 (checked on a Cranfield grid: see the class comment). */
  k1?: number;
  /** Document-length normalisation, 0 (none) to 1 (full). Default 0.75. */
  b?: number;
  /** Compact automatically once dead postings exceed this fraction of all postings. Default 0.25. */
  compactRatio?: number;
}

export interface Bm25Stats {
  /** Live documents. */
  docs: number;
  /** Distinct terms in the dictionary (including ones only dead documents use, until compaction). */
  terms: number;
  /** Postings held, live and dead. */
  postings: number;
  /** Postings of removed documents, dropped by the next `compact()`. */
  deadPostings: number;
  /** Postings of staged documents, not searchable until `reveal`. */
  pendingPostings: number;
  avgDocLength: number;
}

const MAX_LABEL = 2 ** 31 - 2;
const MAX_TF = 65_535;

/**
 * An in-memory inverted index scored with Okapi BM25.
 *
 * Layout (all typed arrays, no per-posting objects):
 * - term dictionary `Map<string, termId>`;
 * - per term, postings as a growable `Int32Array` of labels and a parallel `Uint16Array` of term frequencies
 *   (capacity doubles when full, so appends are amortised O(1));
 * - per label, the document length in a growable `Float32Array` and a live bit in a bitmap.
 *
 * `remove` only clears the live bit (a tombstone) and keeps N, total length and document frequencies exact, so
 * scores do not change by deleting lazily; the dead postings are skipped at search time and dropped by `compact()`,
 * which runs by itself once they pass `compactRatio` of all postings. Re-adding a label purges its old postings.
 * An owner that must not stall for a whole compaction sets `autoCompact = false` and runs `compactSteps()` a slice at
 * a time when `compactionDue` says so (the engine does: shared/engine.ts).
 *
 * Staging, for writers that must not hold the thread for a whole batch: `stage(label, tokens)` writes a document's
 * postings with a pending bit instead of the live one, so searches skip them and N, lengths and document frequencies
 * do not count them; `reveal(label)` makes it live in O(its distinct terms) and `discard(label)` turns it into dead
 * postings. A batch staged a slice at a time and revealed in one synchronous step is seen by searches all at once.
 * `serialize` writes live documents only.
 *
 * Scoring: idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)) (Lucene), and per query-term occurrence
 * idf · tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avgLen)). Scores accumulate in a reusable Float32Array indexed by
 * label with a list of touched labels (no Map on the hot path); the top k are picked with a bounded heap, and equal
 * scores at the cut go to the lowest labels, so any index holding the same documents returns the same hits.
 *
 * Defaults k1 = 1.2, b = 0.75 (Lucene's). On Cranfield a grid over k1 × b has a plateau of nDCG@10 that Lucene's
 * defaults sit on, so they are kept rather than fitted to these test queries (the grid: shared/index/README.md).
 */
export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  readonly compactRatio: number;

  private termIds = new Map<string, number>();
  private terms: string[] = [];
  private postLabels: Int32Array[] = [];
  private postTfs: Uint16Array[] = [];
  /** Postings held per term (live and dead). */
  private postLen: Int32Array = new Int32Array(64);
  /** Live documents per term. */
  private df: Int32Array = new Int32Array(64);
  /** Per-term counter used while adding one document; all zero between calls. */
  private tfScratch: Int32Array = new Int32Array(64);
  /** Highest tf in each term's postings (an upper bound: removals do not lower it). */
  private maxTf: Uint16Array = new Uint16Array(64);
  /** 1 when a term's postings are not in ascending label order (a label re-added below the list's last one). */
  private unsorted: Uint8Array = new Uint8Array(64);

  /** Size of the per-label arrays. */
  private labelCap = 0;
  private docLen: Float32Array = new Float32Array(0);
  private live: Uint32Array = new Uint32Array(0);
  /** Label has dead postings still in the lists. */
  private stale: Uint32Array = new Uint32Array(0);
  /** Label is staged: its postings are in the lists but not searchable yet. */
  private pending: Uint32Array = new Uint32Array(0);
  /** Distinct term ids of each label; kept after removal until its postings are purged. */
  private docTerms: (Int32Array | undefined)[] = [];

  private nDocs = 0;
  private totalLen = 0;
  private totalPostings = 0;
  private deadPostings = 0;
  private pendingPostings = 0;
  /** Bumped by every full `compact()` (term ids change): a `compactSteps()` pass in progress stops. */
  private generation = 0;
  /**
   * True (default): `remove` compacts at once when dead postings pass `compactRatio`. False: the owner compacts,
   * typically with `compactSteps()` when `compactionDue`.
   */
  autoCompact = true;

  // search scratch, sized to the label space
  private acc = new Float32Array(0);
  private touched = new Int32Array(0);
  private cands = new Int32Array(0);
  /** Searches whose commonest term was looked up for candidates instead of scanned (see addToCandidates). */
  private pruned = 0;
  /** k1·(1 − b + b·len/avgLen) per label, recomputed lazily after changes. */
  private norm = new Float32Array(0);
  private normDirty = true;

  constructor(opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    this.compactRatio = opts.compactRatio ?? 0.25;
    if (!(Number.isFinite(this.k1) && this.k1 >= 0)) throw new RagError('INVALID_INPUT', `bm25 k1 must be >= 0, got ${this.k1}`);
    if (!(Number.isFinite(this.b) && this.b >= 0 && this.b <= 1)) {
      throw new RagError('INVALID_INPUT', `bm25 b must be between 0 and 1, got ${this.b}`);
    }
    if (!(this.compactRatio > 0 && this.compactRatio <= 1)) {
      throw new RagError('INVALID_INPUT', `bm25 compactRatio must be in (0, 1], got ${this.compactRatio}`);
    }
  }

  /** Number of live documents. */
  get size(): number {
    return this.nDocs;
  }

  has(label: number): boolean {
    return Number.isInteger(label) && label >= 0 && label < this.labelCap && getBit(this.live, label);
  }

  stats(): Bm25Stats {
    return {
      docs: this.nDocs,
      terms: this.terms.length,
      postings: this.totalPostings,
      deadPostings: this.deadPostings,
      pendingPostings: this.pendingPostings,
      avgDocLength: this.nDocs > 0 ? this.totalLen / this.nDocs : 0,
    };
  }

  /** How many searches so far applied their commonest term to candidates only (exact pruning, see `search`). */
  get prunedSearches(): number {
    return this.pruned;
  }

  /** Inverse document frequency of an (analysed) term over the live documents; 0 for an unknown term. */
  idf(term: string): number {
    const id = this.termIds.get(term);
    if (id === undefined || this.df[id] === 0) return 0;
    return idfOf(this.nDocs, this.df[id]);
  }

  /** Indexes `tokens` (analysed terms) under `label`; a label already present is replaced. */
  add(label: number, tokens: readonly string[]): void {
    checkLabel(label);
    if (!Array.isArray(tokens)) throw new RagError('INVALID_INPUT', `bm25.add(${label}): tokens must be an array of strings`);
    if (this.isPending(label)) throw new RagError('INVALID_INPUT', `bm25.add(${label}): the label is staged; reveal or discard it first`);
    if (label < this.labelCap) {
      if (getBit(this.live, label)) this.removeLabel(label, false);
      if (getBit(this.stale, label)) this.purge(label);
    }
    this.ensureLabels(label + 1);
    const ids = this.appendPostings(label, tokens, 'add');
    for (let j = 0; j < ids.length; j++) this.df[ids[j]]++;
    setBit(this.live, label);
    this.nDocs++;
    this.totalLen += tokens.length;
    this.normDirty = true;
  }

  /**
   * Writes the postings of `tokens` under `label` without making it searchable (see the class comment): searches,
   * N, lengths and document frequencies ignore it until `reveal(label)`. The label must not be live or staged.
   */
  stage(label: number, tokens: readonly string[]): void {
    checkLabel(label);
    if (!Array.isArray(tokens)) throw new RagError('INVALID_INPUT', `bm25.stage(${label}): tokens must be an array of strings`);
    if (this.has(label) || this.isPending(label)) {
      throw new RagError('INVALID_INPUT', `bm25.stage(${label}): the label is already indexed or staged`);
    }
    if (label < this.labelCap && getBit(this.stale, label)) this.purge(label);
    this.ensureLabels(label + 1);
    const ids = this.appendPostings(label, tokens, 'stage');
    this.pendingPostings += ids.length;
    setBit(this.pending, label);
  }

  /** True while `label` is staged (written, not yet revealed or discarded). */
  isPending(label: number): boolean {
    return Number.isInteger(label) && label >= 0 && label < this.labelCap && getBit(this.pending, label);
  }

  /** Makes a staged label searchable, as if it had been added now. */
  reveal(label: number): void {
    if (!this.isPending(label)) throw new RagError('INVALID_INPUT', `bm25.reveal(${label}): the label is not staged`);
    clearBit(this.pending, label);
    const ids = this.docTerms[label]!;
    for (let j = 0; j < ids.length; j++) this.df[ids[j]]++;
    this.pendingPostings -= ids.length;
    setBit(this.live, label);
    this.nDocs++;
    this.totalLen += this.docLen[label];
    this.normDirty = true;
  }

  /** Drops a staged label: its postings become dead ones (removed by compaction). */
  discard(label: number): void {
    if (!this.isPending(label)) return;
    clearBit(this.pending, label);
    setBit(this.stale, label);
    const n = this.docTerms[label]!.length;
    this.pendingPostings -= n;
    this.deadPostings += n;
    if (this.autoCompact && this.compactionDue) this.compact();
  }

  /** Appends one document's postings (term frequencies counted in a scratch array, no Map per document). */
  private appendPostings(label: number, tokens: readonly string[], op: string): Int32Array {
    // count term frequencies in a scratch array indexed by term id (no Map per document)
    const seen: number[] = [];
    for (const token of tokens) {
      if (typeof token !== 'string') {
        for (const id of seen) this.tfScratch[id] = 0;
        throw new RagError('INVALID_INPUT', `bm25.${op}(${label}): tokens must be strings`);
      }
      let id = this.termIds.get(token);
      if (id === undefined) id = this.newTerm(token);
      if (this.tfScratch[id]++ === 0) seen.push(id);
    }
    const ids = Int32Array.from(seen);
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j];
      const f = this.tfScratch[id];
      this.tfScratch[id] = 0;
      const n = this.postLen[id];
      let labels = this.postLabels[id];
      if (n === labels.length) {
        labels = grow(labels, n * 2);
        this.postLabels[id] = labels;
        this.postTfs[id] = grow(this.postTfs[id], n * 2);
      }
      if (n > 0 && labels[n - 1] > label) this.unsorted[id] = 1;
      labels[n] = label;
      const tf = f > MAX_TF ? MAX_TF : f;
      this.postTfs[id][n] = tf;
      if (tf > this.maxTf[id]) this.maxTf[id] = tf;
      this.postLen[id] = n + 1;
    }
    this.totalPostings += ids.length;
    this.docTerms[label] = ids;
    this.docLen[label] = tokens.length;
    return ids;
  }

  /** Removes `label`; returns false when it was not present. Its postings stay as tombstones until compaction. */
  remove(label: number): boolean {
    return this.removeLabel(label, true);
  }

  private removeLabel(label: number, autoCompact: boolean): boolean {
    if (!this.has(label)) return false;
    clearBit(this.live, label);
    setBit(this.stale, label);
    this.nDocs--;
    this.totalLen -= this.docLen[label];
    const ids = this.docTerms[label]!;
    for (let i = 0; i < ids.length; i++) this.df[ids[i]]--;
    this.deadPostings += ids.length;
    this.normDirty = true;
    if (autoCompact && this.autoCompact && this.compactionDue) this.compact();
    return true;
  }

  /** Dead postings are past `compactRatio` of all postings. */
  get compactionDue(): boolean {
    return this.deadPostings > this.compactRatio * this.totalPostings;
  }

  /**
   * Drops dead postings a list at a time, pausing (yielding) after about every `stride` postings looked at, so an
   * owner can run it in slices. Between steps the index is fully usable and exact (searches, adds, removes, staging):
   * each list is rewritten in one step. Unlike `compact()` it does not renumber terms (a term no document uses keeps
   * its id and an empty list until the next `compact()`, which `serialize` runs). Stops early if `compact()` runs
   * meanwhile.
   */
  *compactSteps(stride = 65_536): Generator<void, void, void> {
    if (this.deadPostings === 0) return;
    const generation = this.generation;
    const staleAtStart = this.stale.slice();
    const T = this.terms.length;
    let scanned = 0;
    for (let t = 0; t < T; t++) {
      if (this.generation !== generation) return;
      const labels = this.postLabels[t];
      const tfs = this.postTfs[t];
      const n = this.postLen[t];
      let m = 0;
      let mx = 0;
      for (let i = 0; i < n; i++) {
        const l = labels[i];
        if (!getBit(this.live, l) && !getBit(this.pending, l)) continue;
        labels[m] = l;
        tfs[m] = tfs[i];
        if (tfs[i] > mx) mx = tfs[i];
        m++;
      }
      if (m < n) {
        this.postLen[t] = m;
        this.maxTf[t] = mx;
        this.totalPostings -= n - m;
        this.deadPostings -= n - m;
        if (labels.length > 4 * capacityFor(m)) {
          this.postLabels[t] = labels.slice(0, capacityFor(m));
          this.postTfs[t] = tfs.slice(0, capacityFor(m));
        }
      }
      scanned += n;
      if (scanned >= stride) {
        scanned = 0;
        yield;
      }
    }
    if (this.generation !== generation) return;
    // labels dead since the pass began have no posting left in any list
    for (let w = 0; w < staleAtStart.length; w++) {
      let bits = staleAtStart[w];
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits);
        bits &= ~(1 << bit);
        const l = w * 32 + bit;
        if (getBit(this.live, l) || getBit(this.pending, l) || !getBit(this.stale, l)) continue;
        this.docTerms[l] = undefined;
        clearBit(this.stale, l);
      }
    }
  }

  /** Rewrites the postings without removed documents and drops terms no live or staged document uses. */
  compact(): void {
    if (this.deadPostings === 0) return;
    this.generation++;
    const remap = new Int32Array(this.terms.length).fill(-1);
    const termIds = new Map<string, number>();
    const terms: string[] = [];
    const postLabels: Int32Array[] = [];
    const postTfs: Uint16Array[] = [];
    const postLen = new Int32Array(Math.max(64, this.terms.length));
    const df = new Int32Array(postLen.length);
    const maxTf = new Uint16Array(postLen.length);
    const unsorted = new Uint8Array(postLen.length);
    const staged = this.pendingPostings > 0;
    for (let t = 0; t < this.terms.length; t++) {
      const labels = this.postLabels[t];
      const tfs = this.postTfs[t];
      const n = this.postLen[t];
      let kept = this.df[t];
      if (staged) for (let i = 0; i < n; i++) if (getBit(this.pending, labels[i])) kept++;
      if (kept === 0) continue;
      const keepLabels = new Int32Array(capacityFor(kept));
      const keepTfs = new Uint16Array(keepLabels.length);
      let m = 0;
      for (let i = 0; i < n; i++) {
        const l = labels[i];
        if (!getBit(this.live, l) && !(staged && getBit(this.pending, l))) continue;
        keepLabels[m] = l;
        keepTfs[m++] = tfs[i];
      }
      const id = terms.length;
      let mx = 0;
      for (let i = 0; i < m; i++) if (keepTfs[i] > mx) mx = keepTfs[i];
      maxTf[id] = mx;
      unsorted[id] = this.unsorted[t];
      remap[t] = id;
      termIds.set(this.terms[t], id);
      terms.push(this.terms[t]);
      postLabels.push(keepLabels);
      postTfs.push(keepTfs);
      postLen[id] = m;
      df[id] = this.df[t];
    }
    for (let l = 0; l < this.labelCap; l++) {
      const ids = this.docTerms[l];
      if (ids === undefined) continue;
      if (!getBit(this.live, l) && !getBit(this.pending, l)) {
        this.docTerms[l] = undefined;
        continue;
      }
      for (let i = 0; i < ids.length; i++) ids[i] = remap[ids[i]];
    }
    this.stale.fill(0);
    this.termIds = termIds;
    this.terms = terms;
    this.postLabels = postLabels;
    this.postTfs = postTfs;
    this.postLen = postLen;
    this.df = df;
    this.maxTf = maxTf;
    this.unsorted = unsorted;
    this.tfScratch = new Int32Array(postLen.length);
    this.totalPostings -= this.deadPostings;
    this.deadPostings = 0;
  }

  /**
   * The k best labels for the (analysed) query terms, best first; ties by lower label. A term repeated in the query
   * counts once per occurrence. `filter`, when given, is asked about each matching label before it enters the top k.
   */
  search(queryTokens: readonly string[], k: number, filter?: LabelFilter): ScoredLabel[] {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `bm25.search: k must be a positive integer, got ${k}`);
    if (this.nDocs === 0 || queryTokens.length === 0) return [];
    // distinct known terms with their query frequency (queries are short: a linear scan beats a Map)
    const qTerms: number[] = [];
    const qtf: number[] = [];
    for (const token of queryTokens) {
      const id = this.termIds.get(token);
      if (id === undefined || this.df[id] === 0) continue;
      const at = qTerms.indexOf(id);
      if (at >= 0) qtf[at]++;
      else {
        qTerms.push(id);
        qtf.push(1);
      }
    }
    if (qTerms.length === 0) return [];
    if (this.normDirty) this.updateNorms();

    const acc = this.acc;
    const touched = this.touched;
    const norm = this.norm;
    const live = this.live;
    // dead and staged postings are skipped by the live bit (staged labels are not live yet)
    const checkLive = this.deadPostings > 0 || this.pendingPostings > 0;
    const k1p1 = this.k1 + 1;
    let nTouched = 0;
    // Terms from the rarest to the commonest, with exact (MaxScore-style) pruning of the commonest. It holds most of
    // a query's postings (a common word's list against rarer words' short ones); once the rarer terms have put k
    // documents above the most it could give a document holding none of them, its list only needs looking up for the
    // candidates that can still make the top k (how often that happens, and what it saves: shared/index/README.md).
    // Otherwise it is scanned like the others. The summation order is fixed (by live document frequency, then query
    // position, so dead postings change nothing): an index gives the same scores, bit for bit, either way. It holds
    // with a filter (the k-th best and the candidates are taken among the labels it allows) and with dead or staged
    // postings in the lists (only live labels are ever touched, and a live label's posting is found by its label).
    const order = qTerms.map((_, q) => q).sort((x, y) => this.df[qTerms[x]] - this.df[qTerms[y]] || x - y);
    let nCands = -1; // >= 0 once the remaining lists were applied to candidates only
    for (let step = 0; step < order.length; step++) {
      const q = order[step];
      const t = qTerms[q];
      const w = idfOf(this.nDocs, this.df[t]) * qtf[q] * k1p1;
      const labels = this.postLabels[t];
      const tfs = this.postTfs[t];
      const n = this.postLen[t];
      // tried before the commonest list only: earlier tries cost a pass over the touched labels each and, on the
      // 100k-chunk query log, pruned fewer queries and were slower overall (shared/index/README.md)
      if (step > 0 && step === order.length - 1 && nTouched >= k) {
        nCands = this.addToCandidates(t, w, k, nTouched, filter);
        if (nCands >= 0) break;
      }
      if (checkLive) {
        for (let i = 0; i < n; i++) {
          const l = labels[i];
          if ((live[l >>> 5] & (1 << (l & 31))) === 0) continue;
          const tf = tfs[i];
          if (acc[l] === 0) touched[nTouched++] = l;
          acc[l] += (w * tf) / (tf + norm[l]);
        }
      } else if (step === 0) {
        // the first list: every label is new, no touched check
        for (let i = 0; i < n; i++) {
          const l = labels[i];
          const tf = tfs[i];
          touched[i] = l;
          acc[l] = (w * tf) / (tf + norm[l]);
        }
        nTouched = n;
      } else {
        // record a label as touched without a branch: write it, advance only if its accumulator was still 0
        for (let i = 0; i < n; i++) {
          const l = labels[i];
          const tf = tfs[i];
          const a = acc[l];
          touched[nTouched] = l;
          nTouched += a === 0 ? 1 : 0;
          acc[l] = a + (w * tf) / (tf + norm[l]);
        }
      }
    }
    // after pruning only the candidates hold final scores (every other touched label is below the cut)
    const ranked = nCands >= 0 ? this.cands : touched;
    const nRanked = nCands >= 0 ? nCands : nTouched;

    const top = new TopK(k);
    for (let i = 0; i < nRanked; i++) {
      const l = ranked[i];
      const s = acc[l];
      if (filter !== undefined && s > top.threshold && !filter(l)) continue;
      top.push(l, s);
    }
    let hits = top.drain();
    // Equal scores at the cut: keep the lowest labels, so the result does not depend on the order postings were
    // written in (an updated index then ranks exactly like a fresh one). Usually no tie: one cheap pass.
    if (hits.length === k) {
      const cut = hits[k - 1].score;
      let inTop = 0;
      for (let i = k - 1; i >= 0 && hits[i].score === cut; i--) inTop++;
      const tied: number[] = [];
      for (let i = 0; i < nRanked; i++) {
        const l = ranked[i];
        if (acc[l] === cut && (filter === undefined || filter(l))) tied.push(l);
      }
      if (tied.length > inTop) {
        tied.sort((x, y) => x - y);
        hits = hits.slice(0, k - inTop);
        for (let i = 0; i < inTop; i++) hits.push({ label: tied[i], score: cut });
      }
    }
    for (let i = 0; i < nTouched; i++) acc[touched[i]] = 0;
    return hits;
  }

  /**
   * The pruned last step of `search`, for term `t` with query weight `w`. θ = the k-th best score so far; a document
   * holding only `t` scores at most ub = w·maxTf/(maxTf + k1·(1 − b)) (its tf at most maxTf, its length at least 0).
   * When θ > ub no such document can reach the top k, so `t` is added only to the touched labels that could still
   * get there (score + ub >= θ), found in its sorted list by galloping search. With a filter, θ and the candidates are
   * taken among the labels it allows. Returns how many candidates (in this.cands) hold final scores, or -1 when the
   * list is not sorted or θ does not clear the bound (then the caller scans as usual).
   */
  private addToCandidates(t: number, w: number, k: number, nTouched: number, filter: LabelFilter | undefined): number {
    if (this.unsorted[t] !== 0) return -1;
    const acc = this.acc;
    const touched = this.touched;
    const norm = this.norm;
    const maxTf = this.maxTf[t];
    const ub = (w * maxTf) / (maxTf + this.k1 * (1 - this.b));
    // with a margin for the float32 rounding of accumulated scores: nothing left out may even tie θ
    const bound = ub * (1 + 1e-5) + 1e-6;
    const top = new TopK(k);
    for (let i = 0; i < nTouched; i++) {
      const s = acc[touched[i]];
      if (s > top.threshold && (filter === undefined || filter(touched[i]))) top.push(touched[i], s);
    }
    const theta = top.threshold;
    if (!(theta > bound)) return -1;
    this.pruned++;
    const cands = this.cands;
    let m = 0;
    for (let i = 0; i < nTouched; i++) {
      const l = touched[i];
      if (acc[l] + bound >= theta && (filter === undefined || filter(l))) cands[m++] = l;
    }
    const c = cands.subarray(0, m);
    c.sort();
    const labels = this.postLabels[t];
    const tfs = this.postTfs[t];
    const n = this.postLen[t];
    let p = 0;
    for (let j = 0; j < m && p < n; j++) {
      const l = c[j];
      if (labels[p] < l) {
        // gallop: double the stride until past l, then binary search the last stride
        let lo = p;
        let stride = 1;
        let hi = p + 1;
        while (hi < n && labels[hi] < l) {
          lo = hi;
          stride *= 2;
          hi = lo + stride;
        }
        if (hi > n) hi = n;
        lo++;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (labels[mid] < l) lo = mid + 1;
          else hi = mid;
        }
        p = lo;
      }
      if (p < n && labels[p] === l) {
        const tf = tfs[p];
        acc[l] = acc[l] + (w * tf) / (tf + norm[l]);
        p++;
      }
    }
    return m;
  }

  /**
   * A compact binary image (format in bm25-format.ts): a JSON header (parameters, terms, counts), then typed-array
   * sections (postings per term, all labels, all term frequencies, document lengths, live bitmap). Dead postings
   * are compacted away first.
   */
  serialize(): Uint8Array {
    this.compact();
    if (this.pendingPostings > 0) return this.serializeLiveOnly();
    const T = this.terms.length;
    const header = {
      k1: this.k1,
      b: this.b,
      compactRatio: this.compactRatio,
      terms: this.terms,
      postings: this.totalPostings,
      labelCap: this.labelCap,
      docs: this.nDocs,
      totalLength: this.totalLen,
    };
    return encodeBm25(header, (s) => {
      s.postingCounts.set(this.postLen.subarray(0, T));
      let p = 0;
      for (let t = 0; t < T; t++) {
        const n = this.postLen[t];
        s.labels.set(this.postLabels[t].subarray(0, n), p);
        s.tfs.set(this.postTfs[t].subarray(0, n), p);
        p += n;
      }
      s.docLengths.set(this.docLen.subarray(0, this.labelCap));
      // the bitmap may hold more words than the label space needs (grow() allocates at least 4): the layout's length
      s.live.set(this.live.subarray(0, s.live.length));
    });
  }

  /**
   * `serialize` while documents are staged: the image of the live documents alone (terms only staged documents use
   * are left out, staged postings and lengths too), the same bytes an index without the staged documents writes.
   */
  private serializeLiveOnly(): Uint8Array {
    const keep: number[] = [];
    for (let t = 0; t < this.terms.length; t++) if (this.df[t] > 0) keep.push(t);
    let postings = 0;
    for (const t of keep) postings += this.df[t];
    const header = {
      k1: this.k1,
      b: this.b,
      compactRatio: this.compactRatio,
      terms: keep.map((t) => this.terms[t]),
      postings,
      labelCap: this.labelCap,
      docs: this.nDocs,
      totalLength: this.totalLen,
    };
    return encodeBm25(header, (s) => {
      let p = 0;
      keep.forEach((t, i) => {
        const labels = this.postLabels[t];
        const tfs = this.postTfs[t];
        for (let j = 0; j < this.postLen[t]; j++) {
          if (!getBit(this.live, labels[j])) continue;
          s.labels[p] = labels[j];
          s.tfs[p++] = tfs[j];
        }
        s.postingCounts[i] = this.df[t];
      });
      s.docLengths.set(this.docLen.subarray(0, this.labelCap));
      for (let l = 0; l < this.labelCap; l++) if (getBit(this.pending, l)) s.docLengths[l] = 0;
      s.live.set(this.live.subarray(0, s.live.length));
    });
  }

  /** Rebuilds an index from `serialize()` output. Throws RagError('CORRUPT') when the bytes are not one. */
  static deserialize(input: Uint8Array): Bm25Index {
    const corrupt = (why: string): never => {
      throw new RagError('CORRUPT', `bm25 index: ${why}`);
    };
    const { header: h, sections } = decodeBm25(input);
    const { postingCounts: postLen, labels, tfs } = sections;
    const T = h.terms.length;
    const P = h.postings;

    const index = new Bm25Index({ k1: h.k1, b: h.b, compactRatio: h.compactRatio });
    index.ensureLabels(h.labelCap);
    index.docLen.set(sections.docLengths);
    index.live.set(sections.live);

    index.postLen = new Int32Array(Math.max(64, T));
    index.df = new Int32Array(index.postLen.length);
    index.tfScratch = new Int32Array(index.postLen.length);
    index.maxTf = new Uint16Array(index.postLen.length);
    index.unsorted = new Uint8Array(index.postLen.length);
    const perLabel = new Int32Array(h.labelCap);
    let p = 0;
    for (let t = 0; t < T; t++) {
      const n = postLen[t];
      if (n < 0 || p + n > P) return corrupt(`term ${t}: postings run past the end`);
      const term = h.terms[t];
      if (typeof term !== 'string' || index.termIds.has(term)) return corrupt(`term ${t} is invalid or repeated`);
      index.termIds.set(term, t);
      index.terms.push(term);
      const cap = capacityFor(n);
      const ls = new Int32Array(cap);
      ls.set(labels.subarray(p, p + n));
      const fs = new Uint16Array(cap);
      fs.set(tfs.subarray(p, p + n));
      let mx = 0;
      for (let i = 0; i < n; i++) {
        const l = ls[i];
        if (l < 0 || l >= h.labelCap || !getBit(index.live, l)) return corrupt(`term ${t}: posting for unknown label ${l}`);
        perLabel[l]++;
        if (fs[i] > mx) mx = fs[i];
        if (i > 0 && ls[i - 1] > l) index.unsorted[t] = 1;
      }
      index.maxTf[t] = mx;
      index.postLabels.push(ls);
      index.postTfs.push(fs);
      index.postLen[t] = n;
      index.df[t] = n;
      p += n;
    }
    // forward lists (label → distinct terms), needed to remove documents later
    for (let l = 0; l < h.labelCap; l++) {
      if (getBit(index.live, l)) {
        index.docTerms[l] = new Int32Array(perLabel[l]);
        index.nDocs++;
        index.totalLen += index.docLen[l];
      }
    }
    perLabel.fill(0);
    for (let t = 0; t < T; t++) {
      const ls = index.postLabels[t];
      for (let i = 0; i < index.postLen[t]; i++) index.docTerms[ls[i]]![perLabel[ls[i]]++] = t;
    }
    index.totalPostings = P;
    if (index.nDocs !== h.docs || index.totalLen !== h.totalLength) return corrupt('document counts do not match the header');
    return index;
  }

  private newTerm(token: string): number {
    // a token of 13+ characters is a view into the text it was cut from (V8 sliced string): keep a copy, not the text
    const term = token.length >= 13 ? Buffer.from(token, 'utf16le').toString('utf16le') : token;
    const id = this.terms.length;
    this.termIds.set(term, id);
    this.terms.push(term);
    this.postLabels.push(new Int32Array(4));
    this.postTfs.push(new Uint16Array(4));
    if (id === this.postLen.length) {
      this.postLen = grow(this.postLen, id * 2);
      this.df = grow(this.df, id * 2);
      this.tfScratch = grow(this.tfScratch, id * 2);
      this.maxTf = grow(this.maxTf, id * 2);
      this.unsorted = grow(this.unsorted, id * 2);
    }
    return id;
  }

  /** Takes a removed label's dead postings out of its terms' lists (so the label can be reused). */
  private purge(label: number): void {
    const ids = this.docTerms[label];
    if (ids !== undefined) {
      let found = 0; // a compactSteps() pass may have dropped some of them already
      for (let i = 0; i < ids.length; i++) {
        const t = ids[i];
        const labels = this.postLabels[t];
        const n = this.postLen[t];
        const at = labels.subarray(0, n).lastIndexOf(label);
        if (at < 0) continue;
        labels.copyWithin(at, at + 1, n);
        this.postTfs[t].copyWithin(at, at + 1, n);
        this.postLen[t] = n - 1;
        found++;
      }
      this.totalPostings -= found;
      this.deadPostings -= found;
      this.docTerms[label] = undefined;
    }
    clearBit(this.stale, label);
  }

  private ensureLabels(n: number): void {
    if (n <= this.labelCap) return;
    const cap = Math.max(n, this.labelCap * 2, 64);
    this.docLen = grow(this.docLen, cap);
    this.live = grow(this.live, Math.ceil(cap / 32));
    this.stale = grow(this.stale, Math.ceil(cap / 32));
    this.pending = grow(this.pending, Math.ceil(cap / 32));
    this.acc = new Float32Array(cap);
    this.touched = new Int32Array(cap);
    this.cands = new Int32Array(cap);
    this.norm = new Float32Array(cap);
    this.normDirty = true;
    this.labelCap = cap;
  }

  private updateNorms(): void {
    const avg = this.nDocs > 0 && this.totalLen > 0 ? this.totalLen / this.nDocs : 1;
    const a = this.k1 * (1 - this.b);
    const c = (this.k1 * this.b) / avg;
    const { norm, docLen } = this;
    for (let l = 0; l < this.labelCap; l++) norm[l] = a + c * docLen[l];
    this.normDirty = false;
  }
}

function idfOf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

function checkLabel(label: number): void {
  if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new RagError('INVALID_INPUT', `bm25: label must be an integer from 0 to ${MAX_LABEL}, got ${label}`);
  }
}

type Growable = Int32Array | Uint16Array | Uint32Array | Float32Array | Uint8Array;

function grow<T extends Growable>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(capacity, 4));
  b.set(a);
  return b;
}

function capacityFor(n: number): number {
  return Math.max(4, n);
}

function getBit(bits: Uint32Array, i: number): boolean {
  return (bits[i >>> 5] & (1 << (i & 31))) !== 0;
}

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] &= ~(1 << (i & 31));
}
