import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel } from '../types.ts';
import { TopK } from '../util/topk.ts';
import { isMapped } from './mmap.ts';
import {
  BM25_BLOCK,
  ByteWriter,
  IntWriter,
  bm25FileVersion,
  decodeBm25,
  decodeBm25v2,
  decodePostings,
  encodeBm25v2,
  encodePostings,
} from './bm25-format.ts';

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
 * Layout (typed arrays, no per-posting objects):
 * - term dictionary `Map<string, termId>`;
 * - per term, its postings in two parts: a frozen part, compressed (variable-byte label gaps with the term
 *   frequency folded in, about 1.3 bytes a posting; format and figures in bm25-format.ts), with a skip entry every
 *   128 postings, and a tail of postings added since, as a growable `Int32Array` of labels and a parallel
 *   `Uint16Array` of term frequencies (capacity doubles when full, so appends are amortised O(1)). A loaded index
 *   is all frozen, its lists views into the file's bytes; compaction (`compactSteps`, `compact`) moves tails into the
 *   frozen part. A search decodes each list it scans into a scratch buffer; the pruned lookup of the commonest term
 *   decodes only the blocks its candidates fall in;
 * - per label, the document length in a growable `Float32Array` and a live bit in a bitmap;
 * - per label added since the last compaction, its distinct term ids (a forward list, for removals). Frozen labels
 *   have none: `remove(label, tokens)` takes the document's tokens to find its terms (the engine analyses the chunk's
 *   text again), and without them looks the label up in every list.
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
  // frozen part of each term's list (see the class comment): the buffer holding it, its byte offset there, its
  // postings, its last label + 1 (0: none), and its skip entries (buffer and int offset)
  private fRef: Uint8Array[] = [];
  private fOff: Float64Array = new Float64Array(64);
  private fBytes: Float64Array = new Float64Array(64);
  private fN: Int32Array = new Int32Array(64);
  private fTop: Int32Array = new Int32Array(64);
  private sRef: Int32Array[] = [];
  private sOff: Int32Array = new Int32Array(64);
  // tail of each term's list: labels and term frequencies added since its last compaction
  private postLabels: Int32Array[] = [];
  private postTfs: Uint16Array[] = [];
  /** Tail postings per term (live and dead). */
  private postLen: Int32Array = new Int32Array(64);
  /** Live documents per term. */
  private df: Int32Array = new Int32Array(64);
  /** Per-term counter used while adding one document; all zero between calls. */
  private tfScratch: Int32Array = new Int32Array(64);
  /** Highest tf in each term's postings (an upper bound: removals do not lower it). */
  private maxTf: Uint16Array = new Uint16Array(64);
  /** 1 when a term's tail is not in ascending label order or starts at or below its frozen part's last label. */
  private unsorted: Uint8Array = new Uint8Array(64);

  /** Size of the per-label arrays. */
  private labelCap = 0;
  private docLen: Float32Array = new Float32Array(0);
  private live: Uint32Array = new Uint32Array(0);
  /** Label has dead postings still in the lists. */
  private stale: Uint32Array = new Uint32Array(0);
  /** Label is staged: its postings are in the lists but not searchable yet. */
  private pending: Uint32Array = new Uint32Array(0);
  /**
   * Distinct term ids of labels added or staged since the last full compaction, and of removed labels whose postings
   * are still in the lists; undefined for frozen live labels (see `remove`).
   */
  private docTerms: (Int32Array | undefined)[] = [];
  /** During a compactSteps pass: labels whose postings were appended since it began. */
  private passTouched: Uint32Array | undefined;

  private nDocs = 0;
  private totalLen = 0;
  private totalPostings = 0;
  private tailPostings = 0;
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
  // a list decoded for a scan (`view`), and one block decoded for a lookup
  private scrL = new Int32Array(256);
  private scrT = new Uint16Array(256);
  private vL: Int32Array = NO_INTS;
  private vT: Uint16Array = NO_TFS;
  private readonly blockL = new Int32Array(BM25_BLOCK);
  private readonly blockT = new Uint16Array(BM25_BLOCK);
  private readonly writer = new ByteWriter(1 << 16);
  private readonly skipWriter = new IntWriter(256);

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

  /**
   * Bytes this index holds, by part, counted from its arrays (typed-array byteLength, spare capacity included; a
   * buffer shared by many lists, such as a loaded file's, once) and its dictionary's string lengths (characters; the
   * term → id Map's entries are not counted here). For npm run bench:memory.
   */
  memory(): { part: string; bytes: number; how: string }[] {
    const seen = new Set<ArrayBufferLike>();
    const once = (a: ArrayBufferView) => {
      if (a.byteLength === 0 || seen.has(a.buffer)) return 0;
      seen.add(a.buffer);
      return a.buffer.byteLength;
    };
    let frozen = 0;
    let tails = 0;
    let frozenPostings = 0;
    let mapped = false;
    for (let t = 0; t < this.terms.length; t++) {
      frozen += once(this.fRef[t]) + once(this.sRef[t]);
      if (!mapped && this.fRef[t].byteLength > 0 && isMapped(this.fRef[t])) mapped = true;
      tails += this.postLabels[t].byteLength + this.postTfs[t].byteLength;
      frozenPostings += this.fN[t];
    }
    let forward = 0;
    let lists = 0;
    for (const ids of this.docTerms) {
      if (ids === undefined) continue;
      forward += ids.byteLength;
      lists++;
    }
    let chars = 0;
    for (const term of this.terms) chars += term.length;
    const perTerm =
      this.postLen.byteLength + this.df.byteLength + this.tfScratch.byteLength + this.maxTf.byteLength + this.unsorted.byteLength +
      this.fOff.byteLength + this.fBytes.byteLength + this.fN.byteLength + this.fTop.byteLength + this.sOff.byteLength;
    const perLabel = this.docLen.byteLength + this.live.byteLength + this.stale.byteLength + this.pending.byteLength + this.norm.byteLength;
    const scratch = this.acc.byteLength + this.touched.byteLength + this.cands.byteLength + this.scrL.byteLength + this.scrT.byteLength;
    const T = this.terms.length;
    return [
      { part: 'postings (compressed)', bytes: frozen, how: `${frozenPostings} postings, variable-byte gaps + tf, skip entries every ${BM25_BLOCK}${mapped ? ' (the loaded file, mapped: shared between processes)' : ''}` },
      { part: 'postings (tails)', bytes: tails, how: `${this.tailPostings} postings added since the last compaction, int32 label + uint16 tf (spare capacity included)` },
      { part: 'term dictionary', bytes: chars + perTerm, how: `${T} terms: characters + per-term arrays (+ a Map entry each)` },
      { part: 'forward lists', bytes: forward, how: `${lists} labels → their term ids, int32 (labels added since the last compaction)` },
      { part: 'per-label arrays', bytes: perLabel + scratch, how: `length, norm, bitmaps, search scratch over ${this.labelCap} labels` },
    ];
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
      if (getBit(this.live, label)) this.removeLabel(label, undefined, false);
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

  /** Appends one document's postings to the tails (term frequencies counted in a scratch array, no Map per document). */
  private appendPostings(label: number, tokens: readonly string[], op: string): Int32Array {
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
      if (n > 0 ? labels[n - 1] > label : this.fTop[id] > label) this.unsorted[id] = 1;
      labels[n] = label;
      const tf = f > MAX_TF ? MAX_TF : f;
      this.postTfs[id][n] = tf;
      if (tf > this.maxTf[id]) this.maxTf[id] = tf;
      this.postLen[id] = n + 1;
    }
    this.totalPostings += ids.length;
    this.tailPostings += ids.length;
    this.docTerms[label] = ids;
    this.docLen[label] = tokens.length;
    if (this.passTouched !== undefined && label < this.passTouched.length * 32) setBit(this.passTouched, label);
    return ids;
  }

  /**
   * Removes `label`; returns false when it was not present. Its postings stay as tombstones until compaction.
   * `tokens`: the document's analysed tokens, as indexed. A label added since the last compaction does not need them;
   * for one that was compacted (or loaded) they say which terms' document frequencies to lower, and without them
   * every list is searched for the label (exact, but O(terms)).
   */
  remove(label: number, tokens?: readonly string[]): boolean {
    return this.removeLabel(label, tokens, true);
  }

  /** True when `remove(label)` needs the document's tokens to be cheap (a live label without a forward list). */
  needsTokens(label: number): boolean {
    return this.has(label) && this.docTerms[label] === undefined;
  }

  private removeLabel(label: number, tokens: readonly string[] | undefined, autoCompact: boolean): boolean {
    if (!this.has(label)) return false;
    const ids = this.docTerms[label] ?? this.termsOf(label, tokens);
    this.docTerms[label] = ids;
    clearBit(this.live, label);
    setBit(this.stale, label);
    this.nDocs--;
    this.totalLen -= this.docLen[label];
    for (let i = 0; i < ids.length; i++) this.df[ids[i]]--;
    this.deadPostings += ids.length;
    this.normDirty = true;
    if (autoCompact && this.autoCompact && this.compactionDue) this.compact();
    return true;
  }

  /** The distinct term ids of a label without a forward list: from its tokens, or by looking it up in every list. */
  private termsOf(label: number, tokens: readonly string[] | undefined): Int32Array {
    const out: number[] = [];
    if (tokens !== undefined) {
      const seen = new Set<number>();
      for (const token of tokens) {
        const id = this.termIds.get(token);
        if (id !== undefined && !seen.has(id)) {
          seen.add(id);
          out.push(id);
        }
      }
      return Int32Array.from(out);
    }
    for (let t = 0; t < this.terms.length; t++) if (this.contains(t, label)) out.push(t);
    return Int32Array.from(out);
  }

  /** True when term t's list (frozen part or tail) holds a posting of `label`. */
  private contains(t: number, label: number): boolean {
    if (label < this.fTop[t] && this.frozenIndexOf(t, label) >= 0) return true;
    const n = this.postLen[t];
    return n > 0 && this.postLabels[t].subarray(0, n).lastIndexOf(label) >= 0;
  }

  /** Position of `label` in term t's frozen part (decoding one block), or -1. Leaves that block in blockL/blockT. */
  private frozenIndexOf(t: number, label: number): number {
    const nf = this.fN[t];
    if (nf === 0) return -1;
    const sk = this.sRef[t];
    const so = this.sOff[t];
    const nBlocks = Math.ceil(nf / BM25_BLOCK);
    let lo = 0;
    let hi = nBlocks - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sk[so + 2 * (mid - 1)] < label) lo = mid;
      else hi = mid - 1;
    }
    const count = this.decodeBlock(t, lo);
    for (let i = 0; i < count; i++) if (this.blockL[i] === label) return lo * BM25_BLOCK + i;
    return -1;
  }

  /** Decodes block `b` of term t's frozen part into blockL/blockT; returns its postings. */
  private decodeBlock(t: number, b: number): number {
    const nf = this.fN[t];
    const count = Math.min(BM25_BLOCK, nf - b * BM25_BLOCK);
    const sk = this.sRef[t];
    const at = this.sOff[t] + 2 * (b - 1);
    const start = b === 0 ? this.fOff[t] : this.fOff[t] + sk[at + 1];
    decodePostings(this.fRef[t], start, count, b === 0 ? -1 : sk[at], this.blockL, this.blockT, 0);
    return count;
  }

  /**
   * Term t's whole list (frozen part, then tail) in this.vL/this.vT; returns its length. The frozen part is decoded
   * into a scratch buffer (valid until the next call); a list with none is the tail itself.
   */
  private view(t: number): number {
    const nf = this.fN[t];
    const nt = this.postLen[t];
    if (nf === 0) {
      this.vL = this.postLabels[t];
      this.vT = this.postTfs[t];
      return nt;
    }
    const n = nf + nt;
    if (this.scrL.length < n) {
      this.scrL = new Int32Array(Math.ceil(n * 1.25));
      this.scrT = new Uint16Array(this.scrL.length);
    }
    decodePostings(this.fRef[t], this.fOff[t], nf, -1, this.scrL, this.scrT, 0);
    if (nt > 0) {
      this.scrL.set(this.postLabels[t].subarray(0, nt), nf);
      this.scrT.set(this.postTfs[t].subarray(0, nt), nf);
    }
    this.vL = this.scrL;
    this.vT = this.scrT;
    return n;
  }

  /**
   * Makes `labels`/`tfs` (n postings) term t's frozen part, compressed into an array of its own. The labels must
   * be ascending unless `sort`. With `clearTail` the tail is emptied (its postings are among the given ones).
   */
  private setFrozen(t: number, labels: Int32Array, tfs: Uint16Array, n: number, clearTail: boolean): void {
    if (n > 1) {
      let sorted = true;
      for (let i = 1; i < n; i++) {
        if (labels[i] <= labels[i - 1]) {
          sorted = false;
          break;
        }
      }
      if (!sorted) {
        const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => labels[x] - labels[y]);
        const l2 = Int32Array.from(order, (i) => labels[i]);
        const t2 = Uint16Array.from(order, (i) => tfs[i]);
        labels = l2;
        tfs = t2;
      }
    }
    const w = this.writer;
    const s = this.skipWriter;
    w.length = 0;
    s.length = 0;
    encodePostings(labels, tfs, n, w, s);
    this.fRef[t] = n > 0 ? w.bytes.slice(0, w.length) : NO_BYTES;
    this.fOff[t] = 0;
    this.fBytes[t] = w.length;
    this.fN[t] = n;
    this.fTop[t] = n > 0 ? labels[n - 1] + 1 : 0;
    this.sRef[t] = s.length > 0 ? s.ints.slice(0, s.length) : NO_INTS;
    this.sOff[t] = 0;
    let mx = 0;
    for (let i = 0; i < n; i++) if (tfs[i] > mx) mx = tfs[i];
    if (clearTail) {
      this.tailPostings -= this.postLen[t];
      this.postLabels[t] = NO_INTS;
      this.postTfs[t] = NO_TFS;
      this.postLen[t] = 0;
      this.maxTf[t] = mx;
      this.unsorted[t] = 0;
    } else {
      const nt = this.postLen[t];
      const tl = this.postLabels[t];
      const tt = this.postTfs[t];
      let unsorted = nt > 0 && tl[0] < this.fTop[t] ? 1 : 0;
      for (let i = 0; i < nt; i++) {
        if (tt[i] > mx) mx = tt[i];
        if (i > 0 && tl[i] < tl[i - 1]) unsorted = 1;
      }
      this.maxTf[t] = mx;
      this.unsorted[t] = unsorted;
    }
  }

  /** Dead postings are past `compactRatio` of all postings, or tails hold a quarter of them (over 64k): compact. */
  get compactionDue(): boolean {
    return this.deadPostings > this.compactRatio * this.totalPostings || (this.tailPostings > 65_536 && this.tailPostings > 0.25 * this.totalPostings);
  }

  /**
   * Drops dead postings and compresses tails a list at a time, pausing (yielding) after about every `stride`
   * postings looked at, so an owner can run it in slices. Between steps the index is fully usable and exact
   * (searches, adds, removes, staging): each list is rewritten in one step. Unlike `compact()` it does not renumber
   * terms (a term no document uses keeps its id and an empty list until the next `compact()`). Stops early if
   * `compact()` runs meanwhile. At the end, labels whose postings are all compressed drop their forward lists.
   */
  *compactSteps(stride = 65_536): Generator<void, void, void> {
    if (this.deadPostings === 0 && this.tailPostings === 0) return;
    const generation = this.generation;
    const staleAtStart = this.stale.slice();
    this.passTouched = new Uint32Array(this.live.length);
    const touchedAtStart = this.passTouched;
    const T = this.terms.length;
    let scanned = 0;
    try {
      for (let t = 0; t < T; t++) {
        if (this.generation !== generation) return;
        const nt = this.postLen[t];
        const n = this.view(t);
        if (n === 0) continue;
        const labels = this.vL;
        const tfs = this.vT;
        let m = 0;
        const keepL = new Int32Array(n);
        const keepT = new Uint16Array(n);
        for (let i = 0; i < n; i++) {
          const l = labels[i];
          if (!getBit(this.live, l) && !getBit(this.pending, l)) continue;
          keepL[m] = l;
          keepT[m++] = tfs[i];
        }
        if (m < n || nt > 0) {
          this.totalPostings -= n - m;
          this.deadPostings -= n - m;
          this.setFrozen(t, keepL, keepT, m, true);
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
      // live labels untouched since the pass began have all their postings compressed: their forward lists can go
      for (let l = 0; l < this.docTerms.length; l++) {
        if (this.docTerms[l] === undefined || !getBit(this.live, l) || getBit(this.pending, l) || getBit(this.stale, l)) continue;
        if (l < touchedAtStart.length * 32 && getBit(touchedAtStart, l)) continue;
        this.docTerms[l] = undefined;
      }
    } finally {
      if (this.passTouched === touchedAtStart) this.passTouched = undefined;
    }
  }

  /**
   * Rewrites every list compressed, without removed documents, and drops terms no live or staged document uses
   * (term ids change). Live labels keep no forward list afterwards.
   */
  compact(): void {
    if (this.deadPostings === 0 && this.tailPostings === 0) return;
    this.generation++;
    const remap = new Int32Array(this.terms.length).fill(-1);
    const old = {
      fRef: this.fRef, fOff: this.fOff, fBytes: this.fBytes, fN: this.fN, fTop: this.fTop, sRef: this.sRef, sOff: this.sOff,
      postLabels: this.postLabels, postTfs: this.postTfs, postLen: this.postLen, df: this.df, terms: this.terms,
    };
    const T = this.terms.length;
    // the lists to rewrite: those with a tail, and those holding postings of removed labels (their forward lists say
    // which); the others are compressed and clean already
    const dirty = new Uint8Array(T);
    for (let t = 0; t < T; t++) if (this.postLen[t] > 0) dirty[t] = 1;
    for (let w = 0; w < this.stale.length; w++) {
      let bits = this.stale[w];
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits);
        bits &= ~(1 << bit);
        const ids = this.docTerms[w * 32 + bit];
        if (ids !== undefined) for (let i = 0; i < ids.length; i++) dirty[ids[i]] = 1;
      }
    }
    // compress each list in place first (ids unchanged), then renumber into fresh per-term arrays
    for (let t = 0; t < T; t++) {
      if (dirty[t] === 0) continue;
      const n = this.view(t);
      const labels = this.vL;
      const tfs = this.vT;
      let m = 0;
      const keepL = new Int32Array(n);
      const keepT = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const l = labels[i];
        if (!getBit(this.live, l) && !getBit(this.pending, l)) continue;
        keepL[m] = l;
        keepT[m++] = tfs[i];
      }
      this.setFrozen(t, keepL, keepT, m, true);
    }
    const size = Math.max(64, T);
    this.termIds = new Map();
    this.terms = [];
    this.fRef = [];
    this.sRef = [];
    this.postLabels = [];
    this.postTfs = [];
    const fOff = new Float64Array(size);
    const fBytes = new Float64Array(size);
    const fN = new Int32Array(size);
    const fTop = new Int32Array(size);
    const sOff = new Int32Array(size);
    const df = new Int32Array(size);
    const maxTf = new Uint16Array(size);
    for (let t = 0; t < T; t++) {
      if (old.fN[t] === 0) continue;
      const id = this.terms.length;
      remap[t] = id;
      this.termIds.set(old.terms[t], id);
      this.terms.push(old.terms[t]);
      this.fRef.push(old.fRef[t]);
      this.sRef.push(old.sRef[t]);
      this.postLabels.push(NO_INTS);
      this.postTfs.push(NO_TFS);
      fOff[id] = old.fOff[t];
      fBytes[id] = old.fBytes[t];
      fN[id] = old.fN[t];
      fTop[id] = old.fTop[t];
      sOff[id] = old.sOff[t];
      df[id] = old.df[t];
      maxTf[id] = this.maxTf[t];
    }
    this.fOff = fOff;
    this.fBytes = fBytes;
    this.fN = fN;
    this.fTop = fTop;
    this.sOff = sOff;
    this.df = df;
    this.maxTf = maxTf;
    this.postLen = new Int32Array(size);
    this.unsorted = new Uint8Array(size);
    this.tfScratch = new Int32Array(size);
    for (let l = 0; l < this.docTerms.length; l++) {
      const ids = this.docTerms[l];
      if (ids === undefined) continue;
      if (!getBit(this.pending, l)) {
        this.docTerms[l] = undefined;
        continue;
      }
      for (let i = 0; i < ids.length; i++) ids[i] = remap[ids[i]];
    }
    this.stale.fill(0);
    this.totalPostings -= this.deadPostings;
    this.deadPostings = 0;
    this.tailPostings = 0;
    this.passTouched = undefined;
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
      // tried before the commonest list only: earlier tries cost a pass over the touched labels each and, on the
      // 100k-chunk query log, pruned fewer queries and were slower overall (shared/index/README.md)
      if (step > 0 && step === order.length - 1 && nTouched >= k) {
        nCands = this.addToCandidates(t, w, k, nTouched, filter);
        if (nCands >= 0) break;
      }
      // the compressed part, decoded as it is scored; then the tail
      const mode = checkLive ? SCAN_LIVE : step === 0 ? SCAN_FIRST : SCAN_ADD;
      if (this.fN[t] > 0) nTouched = this.scoreFrozen(t, w, mode, nTouched);
      const n = this.postLen[t];
      const labels = this.postLabels[t];
      const tfs = this.postTfs[t];
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
          touched[nTouched + i] = l;
          acc[l] = (w * tf) / (tf + norm[l]);
        }
        nTouched += n;
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
   * Scores term t's compressed postings (weight w) into the accumulators, decoding them on the way (no decoded copy):
   * SCAN_LIVE skips labels that are not live, SCAN_FIRST is the first list of a search (every label new), SCAN_ADD
   * records a label as touched the first time it scores. Same arithmetic, in the same order, as the loops over a tail.
   * Returns the touched count.
   */
  private scoreFrozen(t: number, w: number, mode: number, nTouched: number): number {
    const buf = this.fRef[t];
    const n = this.fN[t];
    const acc = this.acc;
    const touched = this.touched;
    const norm = this.norm;
    const live = this.live;
    let p = this.fOff[t];
    let label = -1;
    for (let i = 0; i < n; i++) {
      let b = buf[p++];
      let v = b & 127;
      if (b > 127) {
        b = buf[p++];
        v |= (b & 127) << 7;
        if (b > 127) {
          b = buf[p++];
          v |= (b & 127) << 14;
          if (b > 127) {
            b = buf[p++];
            v |= (b & 127) << 21;
            if (b > 127) {
              b = buf[p++];
              v += (b & 127) * 268_435_456;
            }
          }
        }
      }
      label += v >= 2_147_483_648 ? Math.floor(v / 2) : v >>> 1;
      let tf = 1;
      if ((v & 1) !== 0) {
        b = buf[p++];
        let x = b & 127;
        let shift = 7;
        while (b > 127) {
          b = buf[p++];
          x |= (b & 127) << shift;
          shift += 7;
        }
        tf = x + 2;
      }
      const l = label;
      if (mode === SCAN_ADD) {
        const a = acc[l];
        touched[nTouched] = l;
        nTouched += a === 0 ? 1 : 0;
        acc[l] = a + (w * tf) / (tf + norm[l]);
      } else if (mode === SCAN_FIRST) {
        touched[nTouched++] = l;
        acc[l] = (w * tf) / (tf + norm[l]);
      } else {
        if ((live[l >>> 5] & (1 << (l & 31))) === 0) continue;
        if (acc[l] === 0) touched[nTouched++] = l;
        acc[l] += (w * tf) / (tf + norm[l]);
      }
    }
    return nTouched;
  }

  /**
   * The pruned last step of `search`, for term `t` with query weight `w`. θ = the k-th best score so far; a document
   * holding only `t` scores at most ub = w·maxTf/(maxTf + k1·(1 − b)) (its tf at most maxTf, its length at least 0).
   * When θ > ub no such document can reach the top k, so `t` is added only to the touched labels that could still
   * get there (score + ub >= θ), found in its list: in the frozen part by a binary search over the skip entries and
   * one decoded block, in the tail by galloping search. With a filter, θ and the candidates are taken among the labels
   * it allows. Returns how many candidates (in this.cands) hold final scores, or -1 when the list is not sorted or θ
   * does not clear the bound (then the caller scans as usual).
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
    let j = 0;
    // frozen part: blocks of BM25_BLOCK postings, the label before each block in the skip entries
    const nf = this.fN[t];
    if (nf > 0) {
      const lastFrozen = this.fTop[t] - 1;
      const sk = this.sRef[t];
      const so = this.sOff[t];
      const nBlocks = Math.ceil(nf / BM25_BLOCK);
      const bl = this.blockL;
      const bt = this.blockT;
      let blk = -1;
      let bn = 0;
      let bp = 0;
      for (; j < m; j++) {
        const l = c[j];
        if (l > lastFrozen) break;
        let b = blk < 0 ? 0 : blk;
        if (b + 1 < nBlocks && sk[so + 2 * b] < l) {
          let lo = b + 1;
          let hi = nBlocks - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (sk[so + 2 * (mid - 1)] < l) lo = mid;
            else hi = mid - 1;
          }
          b = lo;
        }
        if (b !== blk) {
          bn = this.decodeBlock(t, b);
          blk = b;
          bp = 0;
        }
        while (bp < bn && bl[bp] < l) bp++;
        if (bp < bn && bl[bp] === l) {
          const tf = bt[bp];
          acc[l] = acc[l] + (w * tf) / (tf + norm[l]);
          bp++;
        }
      }
    }
    // tail: ascending, every label above the frozen part's
    const labels = this.postLabels[t];
    const tfs = this.postTfs[t];
    const n = this.postLen[t];
    let p = 0;
    for (; j < m && p < n; j++) {
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
   * A compact binary image, format version 2 (bm25-format.ts): a JSON header (parameters, terms, counts), then the
   * compressed lists of the live documents, their skip entries, document lengths and the live bitmap. Dead and staged
   * postings are left out, and terms only they use: the same bytes as an index holding just the live documents.
   */
  serialize(): Uint8Array {
    this.compact();
    if (this.pendingPostings === 0) return this.serializeCompact();
    const keep: number[] = [];
    for (let t = 0; t < this.terms.length; t++) if (this.df[t] > 0) keep.push(t);
    const w = new ByteWriter(1 << 16);
    const skips = new IntWriter(1024);
    const offsets = new Float64Array(keep.length + 1);
    const counts = new Int32Array(keep.length);
    const maxTfs = new Uint16Array(keep.length);
    let postings = 0;
    let liveL = new Int32Array(1024);
    let liveT = new Uint16Array(1024);
    keep.forEach((t, i) => {
      const n = this.view(t);
      if (liveL.length < n) {
        liveL = new Int32Array(n);
        liveT = new Uint16Array(n);
      }
      let m = 0;
      let mx = 0;
      for (let j = 0; j < n; j++) {
        if (!getBit(this.live, this.vL[j])) continue;
        liveL[m] = this.vL[j];
        liveT[m] = this.vT[j];
        if (this.vT[j] > mx) mx = this.vT[j];
        m++;
      }
      let L = liveL;
      let F = liveT;
      if (this.unsorted[t] !== 0) {
        const order = Array.from({ length: m }, (_, x) => x).sort((x, y) => liveL[x] - liveL[y]);
        L = Int32Array.from(order, (x) => liveL[x]);
        F = Uint16Array.from(order, (x) => liveT[x]);
      }
      offsets[i] = w.length;
      encodePostings(L, F, m, w, skips);
      counts[i] = m;
      maxTfs[i] = mx;
      postings += m;
    });
    offsets[keep.length] = w.length;
    const header = {
      k1: this.k1,
      b: this.b,
      compactRatio: this.compactRatio,
      terms: keep.map((t) => this.terms[t]),
      postings,
      bytes: w.length,
      skips: skips.length / 2,
      labelCap: this.labelCap,
      docs: this.nDocs,
      totalLength: this.totalLen,
    };
    return encodeBm25v2(header, (s) => {
      s.listOffsets.set(offsets);
      s.postingCounts.set(counts);
      s.maxTf.set(maxTfs);
      s.blob.set(w.bytes.subarray(0, w.length));
      s.skips.set(skips.ints.subarray(0, skips.length));
      s.docLengths.set(this.docLen.subarray(0, this.labelCap));
      for (let l = 0; l < this.labelCap; l++) if (getBit(this.pending, l)) s.docLengths[l] = 0;
      // the bitmap may hold more words than the label space needs (grow() allocates at least 4): the layout's length
      s.live.set(this.live.subarray(0, s.live.length));
    });
  }

  /** `serialize` of a compacted index without staged documents: every list is compressed and live, copied as is. */
  private serializeCompact(): Uint8Array {
    const T = this.terms.length;
    let bytes = 0;
    let skipInts = 0;
    let postings = 0;
    for (let t = 0; t < T; t++) {
      bytes += this.fBytes[t];
      skipInts += 2 * Math.max(0, Math.ceil(this.fN[t] / BM25_BLOCK) - 1);
      postings += this.fN[t];
    }
    const header = {
      k1: this.k1,
      b: this.b,
      compactRatio: this.compactRatio,
      terms: this.terms,
      postings,
      bytes,
      skips: skipInts / 2,
      labelCap: this.labelCap,
      docs: this.nDocs,
      totalLength: this.totalLen,
    };
    return encodeBm25v2(header, (s) => {
      let at = 0;
      let sk = 0;
      for (let t = 0; t < T; t++) {
        s.listOffsets[t] = at;
        s.postingCounts[t] = this.fN[t];
        s.maxTf[t] = this.maxTf[t];
        const len = this.fBytes[t];
        s.blob.set(this.fRef[t].subarray(this.fOff[t], this.fOff[t] + len), at);
        at += len;
        const ints = 2 * Math.max(0, Math.ceil(this.fN[t] / BM25_BLOCK) - 1);
        s.skips.set(this.sRef[t].subarray(this.sOff[t], this.sOff[t] + ints), sk);
        sk += ints;
      }
      s.listOffsets[T] = at;
      s.docLengths.set(this.docLen.subarray(0, this.labelCap));
      s.live.set(this.live.subarray(0, s.live.length));
    });
  }

  /**
   * Rebuilds an index from `serialize()` output (format 2: the lists stay in `input`'s bytes, compressed; format 1:
   * compressed on load). Throws RagError('CORRUPT') when the bytes are not one.
   */
  static deserialize(input: Uint8Array): Bm25Index {
    const corrupt = (why: string): never => {
      throw new RagError('CORRUPT', `bm25 index: ${why}`);
    };
    if (bm25FileVersion(input) === 1) return Bm25Index.fromV1(input);
    const { header: h, sections: s } = decodeBm25v2(input);
    const T = h.terms.length;
    const index = new Bm25Index({ k1: h.k1, b: h.b, compactRatio: h.compactRatio });
    index.ensureLabels(h.labelCap);
    index.docLen.set(s.docLengths);
    index.live.set(s.live);
    index.growTerms(Math.max(64, T));
    let skipAt = 0;
    let postings = 0;
    for (let t = 0; t < T; t++) {
      const term = h.terms[t];
      if (typeof term !== 'string' || index.termIds.has(term)) return corrupt(`term ${t} is invalid or repeated`);
      const n = s.postingCounts[t];
      const from = s.listOffsets[t];
      const to = s.listOffsets[t + 1];
      if (!(n >= 0) || !(from >= 0 && to >= from && to <= h.bytes)) return corrupt(`term ${t}: list runs past the end`);
      const blocks = Math.max(0, Math.ceil(n / BM25_BLOCK) - 1);
      if (skipAt + 2 * blocks > s.skips.length) return corrupt(`term ${t}: skip entries run past the end`);
      index.termIds.set(term, t);
      index.terms.push(term);
      index.fRef.push(n > 0 ? s.blob : NO_BYTES);
      index.sRef.push(blocks > 0 ? s.skips : NO_INTS);
      index.postLabels.push(NO_INTS);
      index.postTfs.push(NO_TFS);
      index.fOff[t] = from;
      index.fBytes[t] = to - from;
      index.fN[t] = n;
      index.sOff[t] = skipAt;
      index.df[t] = n;
      index.maxTf[t] = s.maxTf[t];
      skipAt += 2 * blocks;
      postings += n;
      // check the list: ascending labels of live documents, ending where the next list starts
      if (n > 0) {
        if (index.scrL.length < n) {
          index.scrL = new Int32Array(n);
          index.scrT = new Uint16Array(n);
        }
        const end = decodePostings(s.blob, from, n, -1, index.scrL, index.scrT, 0);
        if (end !== to) return corrupt(`term ${t}: list is ${end - from} bytes, offsets say ${to - from}`);
        let prev = -1;
        for (let i = 0; i < n; i++) {
          const l = index.scrL[i];
          if (l <= prev || l >= h.labelCap || !getBit(index.live, l)) return corrupt(`term ${t}: posting for unknown label ${l}`);
          prev = l;
        }
        index.fTop[t] = prev + 1;
      }
    }
    if (postings !== h.postings || skipAt !== s.skips.length) return corrupt('posting or skip counts do not match the header');
    for (let l = 0; l < h.labelCap; l++) {
      if (getBit(index.live, l)) {
        index.nDocs++;
        index.totalLen += index.docLen[l];
      }
    }
    index.totalPostings = postings;
    if (index.nDocs !== h.docs || index.totalLen !== h.totalLength) return corrupt('document counts do not match the header');
    return index;
  }

  /** A format-1 file (plain arrays), its lists compressed on load. */
  private static fromV1(input: Uint8Array): Bm25Index {
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
    index.growTerms(Math.max(64, T));
    let p = 0;
    for (let t = 0; t < T; t++) {
      const n = postLen[t];
      if (n < 0 || p + n > P) return corrupt(`term ${t}: postings run past the end`);
      const term = h.terms[t];
      if (typeof term !== 'string' || index.termIds.has(term)) return corrupt(`term ${t} is invalid or repeated`);
      const ls = labels.subarray(p, p + n);
      const fs = tfs.subarray(p, p + n);
      for (let i = 0; i < n; i++) {
        const l = ls[i];
        if (l < 0 || l >= h.labelCap || !getBit(index.live, l)) return corrupt(`term ${t}: posting for unknown label ${l}`);
      }
      index.termIds.set(term, t);
      index.terms.push(term);
      index.fRef.push(NO_BYTES);
      index.sRef.push(NO_INTS);
      index.postLabels.push(NO_INTS);
      index.postTfs.push(NO_TFS);
      index.setFrozen(t, ls, fs, n, true);
      index.df[t] = n;
      p += n;
    }
    for (let l = 0; l < h.labelCap; l++) {
      if (getBit(index.live, l)) {
        index.nDocs++;
        index.totalLen += index.docLen[l];
      }
    }
    index.totalPostings = P;
    index.tailPostings = 0;
    if (index.nDocs !== h.docs || index.totalLen !== h.totalLength) return corrupt('document counts do not match the header');
    return index;
  }

  /** Grows the per-term arrays to hold at least `n` terms. */
  private growTerms(n: number): void {
    if (n <= this.postLen.length) return;
    this.postLen = grow(this.postLen, n);
    this.df = grow(this.df, n);
    this.tfScratch = grow(this.tfScratch, n);
    this.maxTf = grow(this.maxTf, n);
    this.unsorted = grow(this.unsorted, n);
    this.fOff = grow(this.fOff, n);
    this.fBytes = grow(this.fBytes, n);
    this.fN = grow(this.fN, n);
    this.fTop = grow(this.fTop, n);
    this.sOff = grow(this.sOff, n);
  }

  private newTerm(token: string): number {
    // a token of 13+ characters is a view into the text it was cut from (V8 sliced string): keep a copy, not the text
    const term = token.length >= 13 ? Buffer.from(token, 'utf16le').toString('utf16le') : token;
    const id = this.terms.length;
    this.termIds.set(term, id);
    this.terms.push(term);
    this.postLabels.push(new Int32Array(4));
    this.postTfs.push(new Uint16Array(4));
    this.fRef.push(NO_BYTES);
    this.sRef.push(NO_INTS);
    if (id === this.postLen.length) this.growTerms(id * 2);
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
        const at = n > 0 ? labels.subarray(0, n).lastIndexOf(label) : -1;
        if (at >= 0) {
          labels.copyWithin(at, at + 1, n);
          this.postTfs[t].copyWithin(at, at + 1, n);
          this.postLen[t] = n - 1;
          this.tailPostings--;
          found++;
          continue;
        }
        if (label < this.fTop[t] && this.frozenIndexOf(t, label) >= 0) {
          // rewrite the frozen part without it (the tail stays)
          const nf = this.fN[t];
          const ls = new Int32Array(nf);
          const fs = new Uint16Array(nf);
          decodePostings(this.fRef[t], this.fOff[t], nf, -1, ls, fs, 0);
          let m = 0;
          for (let j = 0; j < nf; j++) {
            if (ls[j] === label) continue;
            ls[m] = ls[j];
            fs[m++] = fs[j];
          }
          this.setFrozen(t, ls, fs, m, false);
          found++;
        }
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

/** How scoreFrozen treats a posting (see there). */
const SCAN_LIVE = 0;
const SCAN_FIRST = 1;
const SCAN_ADD = 2;

const NO_BYTES = new Uint8Array(0);
const NO_INTS = new Int32Array(0);
const NO_TFS = new Uint16Array(0);

function idfOf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

function checkLabel(label: number): void {
  if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new RagError('INVALID_INPUT', `bm25: label must be an integer from 0 to ${MAX_LABEL}, got ${label}`);
  }
}

type Growable = Int32Array | Uint16Array | Uint32Array | Float32Array | Float64Array | Uint8Array;

function grow<T extends Growable>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(capacity, 4));
  b.set(a);
  return b;
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
