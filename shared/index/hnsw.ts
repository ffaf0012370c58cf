import { readFile, rename, rm, stat } from 'node:fs/promises';
import hnswlib from 'hnswlib-node';
import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel, VectorIndex } from '../types.ts';
import { writeAtomic } from '../util/write-atomic.ts';
import { checkLabel } from './label.ts';
import { TopK } from '../util/topk.ts';

/**
 * Approximate nearest-neighbour search with HNSW (hnswlib-node, the C++ hnswlib behind N-API).
 *
 * Vectors are L2-normalised here and stored in hnswlib's inner-product space, where distance = 1 − dot; `search`
 * returns score = 1 − distance = cosine similarity, best first.
 *
 * - Capacity doubles (`resizeIndex`) when an add would exceed it.
 * - `remove` marks labels deleted (`markDelete`): they stay in the graph as waypoints but are never returned. Their
 *   slots are not reused, so capacity tracks every label ever added; re-adding a deleted label un-deletes it and
 *   overwrites its vector (hnswlib's update path). Rebuild the index after heavy churn to reclaim the space.
 * - `add` with a live label replaces its vector (hnswlib updates the point and repairs its neighbourhood).
 * - `search` clamps k to the number of live vectors; the filter runs inside the graph walk (a JS callback per candidate,
 *   so a very selective filter makes HNSW explore more nodes, and it may return fewer than k hits).
 * - `searchAmong(query, labels, k)` scores the given labels exactly (for a filter that leaves few candidates: the
 *   graph walk would visit most of the graph to find them). It reads their vectors from hnswlib once (`getPoint`)
 *   and keeps copies in `rows`, so the memory it takes grows with the labels ever scored this way, at most one
 *   vector per element.
 * - Staging, for writers that insert a batch a slice at a time: `stage(labels, vectors)` inserts them into the graph
 *   (as ordinary points: hnswlib never links a new point to a deleted one, so they are not hidden that way) and
 *   searches leave them out with a filter while any are staged; `reveal` makes them searchable (O(1) each) and
 *   `discard` marks them deleted. `save` writes staged labels as deleted (and a loaded index has them deleted).
 *
 * Files: `save(file)` writes hnswlib's own format to `file` and a sidecar `file + '.json'` with the parameters and the
 * live/deleted label sets. Each is written to a temporary name and renamed; the sidecar records the element count so a
 * crash between the two renames is detected on load (RagError 'CORRUPT').
 */

/** Labels below this use typed arrays for liveness and cached rows (the engine's labels are dense, from 0). */
const DENSE_LABELS = 1 << 26;

export interface HnswOptions {
  /** Vector dimension (required). */
  dim: number;
  /** Graph degree: links per node on upper layers (2M on the base layer). Default 16. */
  M?: number;
  /** Candidate list size while inserting; higher = better graph, slower build. Default 200. */
  efConstruction?: number;
  /**
   * Candidate list size while searching (raised to k when k is larger); higher = better recall, slower. Default 160,
   * chosen for recall@10 against exact search on ~100k SIF chunk vectors (`npm run bench:engine`; figures in the
   * main README, "Speed at 100k chunks").
   */
  efSearch?: number;
  /** Elements allocated up front; doubles when full. Default 1024. */
  initialCapacity?: number;
  /** Seed for hnswlib's level generator (same data, same order, same graph). Default 100. */
  seed?: number;
}

interface Sidecar {
  kind: 'hnsw';
  version: 1;
  dim: number;
  M: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  /** hnswlib's element count (live + deleted) when saved. */
  elements: number;
  live: number[];
  deleted: number[];
  /** Labels among `deleted` that were staged when saved: in the file as ordinary points, marked deleted on load. */
  hidden?: number[];
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  readonly dim: number;
  private M: number;
  private efConstruction: number;
  private efSearch: number;
  /** The beam width hnswlib holds now (a per-call `ef` changes it; a setEf call only when it differs). */
  private activeEf: number;
  private seed: number;
  private index: hnswlib.HierarchicalNSW;
  private readonly live = new Set<number>();
  private readonly deleted = new Set<number>();
  /** Staged labels: in the graph, left out of searches until `reveal`. */
  private readonly hidden = new Set<number>();
  private readonly scratch: number[];
  /** Exact copies of vectors read back for `searchAmong`: label → row of `rows`. */
  private rowOf = new Map<number, number>();
  private rows = new Float32Array(0);
  private nRows = 0;
  /** `live` as a bitmap over labels below DENSE_LABELS, and label → row + 1 of `rows` (0: none): O(1) typed reads. */
  private liveBits = new Uint32Array(0);
  private rowIndex = new Int32Array(0);

  constructor(opts: HnswOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new RagError('INVALID_INPUT', `HnswIndex: dim must be a positive integer, got ${opts.dim}`);
    this.dim = opts.dim;
    this.M = opts.M ?? 16;
    this.efConstruction = opts.efConstruction ?? 200;
    this.efSearch = opts.efSearch ?? 160;
    this.seed = opts.seed ?? 100;
    this.scratch = new Array<number>(this.dim).fill(0);
    this.index = new hnswlib.HierarchicalNSW('ip', this.dim);
    this.index.initIndex({
      maxElements: Math.max(1, opts.initialCapacity ?? 1024),
      m: this.M,
      efConstruction: this.efConstruction,
      randomSeed: this.seed,
      allowReplaceDeleted: false,
    });
    this.index.setEf(this.efSearch);
    this.activeEf = this.efSearch;
  }

  get size(): number {
    return this.live.size;
  }

  /** Elements the index can hold before it resizes (deleted ones included). */
  get capacity(): number {
    return this.index.getMaxElements();
  }

  has(label: number): boolean {
    return this.live.has(label);
  }

  /**
   * Bytes held, by part, from hnswlib's memory layout (hnswalg.h) at the current capacity: per element slot, the
   * base-layer links (2M int32 + a count), the float32 vector and the 8-byte label in one block, plus a link-list
   * pointer, a level and a mutex; the upper layers' links are read from the saved file's size when the index was
   * loaded or saved (else their expected size, 1/(M − 1) upper levels per element). JS side: the cached rows of
   * `searchAmong` and the label bitmaps (the live/deleted Sets' entries are not counted). For npm run bench:memory.
   */
  memory(): { part: string; bytes: number; how: string }[] {
    const cap = this.index.getMaxElements();
    const count = this.index.getCurrentCount();
    const linksPerElement0 = 2 * this.M * 4 + 4;
    const perElement = linksPerElement0 + this.dim * 4 + 8;
    let upper: number;
    let upperHow: string;
    if (this.file !== undefined && this.fileElements === count) {
      // file: a 96-byte header, the base-layer blocks of the elements, then per element a u32 size and its upper links
      upper = this.fileBytes - 96 - count * perElement - 4 * count;
      upperHow = 'upper-layer links, from the saved file';
    } else {
      upper = Math.round((count * (this.M * 4 + 4)) / (this.M - 1));
      upperHow = 'upper-layer links, expected size (1/(M − 1) levels per element)';
    }
    const MUTEX = 40;
    // hnswlib allocates every slot of the capacity, but the pages of slots never written stay out of RSS: count used
    // slots for the per-element block and all slots for the small per-slot arrays it initialises
    return [
      { part: 'vectors', bytes: count * this.dim * 4, how: `${count} × ${this.dim} float32 (hnswlib; ${cap} slots allocated)` },
      { part: 'graph', bytes: count * (linksPerElement0 + 8) + cap * (8 + 4 + MUTEX + 2) + upper + 65_536 * MUTEX,
        how: `base-layer links ${linksPerElement0} B + label per element; pointer, level, mutex, visited mark per slot; ${upperHow}; lock table` },
      { part: 'JS side', bytes: this.rows.byteLength + this.liveBits.byteLength + this.rowIndex.byteLength,
        how: `searchAmong rows (${this.nRows}), live bitmap, row index (+ ${this.live.size + this.deleted.size} Set entries)` },
    ];
  }

  /** The file this index was last loaded from or saved to, its size and element count (for `memory`). */
  private file: string | undefined;
  private fileBytes = 0;
  private fileElements = -1;

  /** Set the search-time candidate list size (recall/speed trade-off). */
  setEfSearch(ef: number): void {
    if (!Number.isInteger(ef) || ef <= 0) throw new RagError('INVALID_INPUT', `HnswIndex.setEfSearch: ef must be a positive integer, got ${ef}`);
    this.efSearch = ef;
    this.index.setEf(ef);
    this.activeEf = ef;
  }

  get ef(): number {
    return this.efSearch;
  }

  add(labels: number[], vectors: Float32Array[]): void {
    if (labels.length !== vectors.length) {
      throw new RagError('INVALID_INPUT', `HnswIndex.add: ${labels.length} labels but ${vectors.length} vectors`);
    }
    let fresh = 0;
    const seen = new Set<number>();
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      checkLabel(l, 'HnswIndex.add');
      if (vectors[i].length !== this.dim) {
        throw new RagError('INVALID_INPUT', `HnswIndex.add: vector ${i} has dim ${vectors[i].length}, index has dim ${this.dim}`);
      }
      if (!this.live.has(l) && !this.deleted.has(l) && !this.hidden.has(l) && !seen.has(l)) fresh++;
      seen.add(l);
    }
    const need = this.index.getCurrentCount() + fresh;
    let cap = this.index.getMaxElements();
    if (need > cap) {
      while (cap < need) cap *= 2;
      this.index.resizeIndex(cap);
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      // Adding a deleted label un-deletes it and overwrites its vector (allowReplaceDeleted is off).
      const v = this.normalised(vectors[i]);
      this.index.addPoint(v, l);
      const r = l < this.rowIndex.length && this.rowIndex[l] !== 0 ? this.rowIndex[l] - 1 : this.rowOf.get(l);
      if (r !== undefined) this.rows.set(v, r * this.dim);
      this.deleted.delete(l);
      this.hidden.delete(l);
      this.setLive(l, true);
    }
  }

  /** Inserts vectors that no search returns until `reveal` (see the class comment). Labels must be new. */
  stage(labels: number[], vectors: Float32Array[]): void {
    for (const l of labels) {
      if (this.live.has(l) || this.deleted.has(l) || this.hidden.has(l)) {
        throw new RagError('INVALID_INPUT', `HnswIndex.stage: label ${l} is already in the index`);
      }
    }
    this.add(labels, vectors);
    for (const l of labels) {
      this.setLive(l, false);
      this.hidden.add(l);
    }
  }

  /** Makes staged labels searchable. */
  reveal(labels: number[]): void {
    for (const l of labels) {
      if (!this.hidden.has(l)) throw new RagError('INVALID_INPUT', `HnswIndex.reveal: label ${l} is not staged`);
    }
    for (const l of labels) {
      this.hidden.delete(l);
      this.setLive(l, true);
    }
  }

  /** Drops staged labels: they are marked deleted. */
  discard(labels: number[]): void {
    for (const l of labels) {
      if (!this.hidden.delete(l)) continue;
      this.index.markDelete(l);
      this.deleted.add(l);
    }
  }

  /** Labels staged and not yet revealed or discarded. */
  get staged(): number {
    return this.hidden.size;
  }

  remove(labels: number[]): void {
    for (const l of labels) {
      if (!this.live.has(l)) continue;
      this.index.markDelete(l);
      this.setLive(l, false);
      this.deleted.add(l);
    }
  }

  search(query: Float32Array, k: number, filter?: LabelFilter, ef?: number): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `HnswIndex.search: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    const kk = Math.min(Math.floor(k), this.live.size);
    if (!(kk > 0)) return [];
    const beam = ef === undefined ? this.efSearch : Math.max(1, Math.floor(ef));
    if (beam !== this.activeEf) {
      this.index.setEf(beam);
      this.activeEf = beam;
    }
    const hidden = this.hidden;
    const visible = hidden.size === 0 ? filter : filter ? (l: number) => !hidden.has(l) && filter(l) : (l: number) => !hidden.has(l);
    const res = visible ? this.index.searchKnn(this.normalised(query), kk, visible) : this.index.searchKnn(this.normalised(query), kk);
    const out: ScoredLabel[] = new Array(res.neighbors.length);
    for (let i = 0; i < out.length; i++) out[i] = { label: res.neighbors[i], score: 1 - res.distances[i] };
    // hnswlib returns nearest first; float ties keep its order.
    return out;
  }

  /**
   * The top k of `labels` (live ones; others, and repeats, are skipped) by exact cosine similarity, best first, ties
   * by lower label.
   * Cost: one dot product per label, plus one read from hnswlib the first time a label is scored this way.
   */
  searchAmong(query: Float32Array, labels: ArrayLike<number>, k: number): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `HnswIndex.searchAmong: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    const kk = Math.min(Math.floor(k), labels.length);
    if (!(kk > 0)) return [];
    const q = Float32Array.from(this.normalised(query));
    const dim = this.dim;
    // ascending order (the engine's filters give it so) makes a repeat the previous label
    let ordered: ArrayLike<number> = labels;
    for (let i = 1; i < labels.length; i++) {
      if (labels[i] < labels[i - 1]) {
        ordered = Float64Array.from(labels).sort();
        break;
      }
    }
    const top = new TopK(kk);
    for (let i = 0; i < ordered.length; i++) {
      const l = ordered[i];
      if ((i > 0 && l === ordered[i - 1]) || !this.isLive(l)) continue;
      const off = this.rowFor(l) * dim;
      const rows = this.rows;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let j = 0;
      for (; j + 3 < dim; j += 4) {
        s0 += q[j] * rows[off + j];
        s1 += q[j + 1] * rows[off + j + 1];
        s2 += q[j + 2] * rows[off + j + 2];
        s3 += q[j + 3] * rows[off + j + 3];
      }
      for (; j < dim; j++) s0 += q[j] * rows[off + j];
      const s = s0 + s1 + s2 + s3;
      // strictly better only: of equal scores, the lower label (seen first) stays
      if (s > top.threshold) top.push(l, s);
    }
    return top.drain();
  }

  private setLive(label: number, on: boolean): void {
    if (on) this.live.add(label);
    else this.live.delete(label);
    if (label >= DENSE_LABELS) return;
    const w = label >>> 5;
    if (w >= this.liveBits.length) {
      if (!on) return;
      const grown = new Uint32Array(Math.max(64, w + 1, this.liveBits.length * 2));
      grown.set(this.liveBits);
      this.liveBits = grown;
    }
    if (on) this.liveBits[w] |= 1 << (label & 31);
    else this.liveBits[w] &= ~(1 << (label & 31));
  }

  private isLive(label: number): boolean {
    if (label < DENSE_LABELS) {
      const w = label >>> 5;
      return w < this.liveBits.length && (this.liveBits[w] & (1 << (label & 31))) !== 0;
    }
    return this.live.has(label);
  }

  /** The row of `label` in `rows`, read from hnswlib on first use. */
  private rowFor(label: number): number {
    if (label < this.rowIndex.length && this.rowIndex[label] !== 0) return this.rowIndex[label] - 1;
    let r = this.rowOf.get(label);
    if (r !== undefined) return r;
    r = this.nRows++;
    if ((r + 1) * this.dim > this.rows.length) {
      const grown = new Float32Array(Math.max(64, (r + 1) * 2) * this.dim);
      grown.set(this.rows);
      this.rows = grown;
    }
    this.rows.set(this.index.getPoint(label), r * this.dim);
    if (label < DENSE_LABELS) {
      if (label >= this.rowIndex.length) {
        const grown = new Int32Array(Math.max(1024, label + 1, this.rowIndex.length * 2));
        grown.set(this.rowIndex);
        this.rowIndex = grown;
      }
      this.rowIndex[label] = r + 1;
    } else this.rowOf.set(label, r);
    return r;
  }

  /** The query/vector as a plain array (what the binding wants), unit length; a zero vector stays zero. */
  private normalised(v: Float32Array): number[] {
    const out = this.scratch;
    let s = 0;
    for (let j = 0; j < this.dim; j++) s += v[j] * v[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < this.dim; j++) out[j] = v[j] * inv;
    return out;
  }

  /**
   * While `save` writes the graph (hnswlib writes it from a thread of its own), the promise of that write: a writer
   * must not insert meanwhile (the engine's ingest waits for it). Undefined otherwise.
   */
  saving: Promise<void> | undefined;

  async save(file: string): Promise<void> {
    const p = this.saveNow(file);
    this.saving = p;
    try {
      await p;
    } finally {
      if (this.saving === p) this.saving = undefined;
    }
  }

  private async saveNow(file: string): Promise<void> {
    const sidecar: Sidecar = {
      kind: 'hnsw',
      version: 1,
      dim: this.dim,
      M: this.M,
      efConstruction: this.efConstruction,
      efSearch: this.efSearch,
      seed: this.seed,
      elements: this.index.getCurrentCount(),
      live: [...this.live],
      // staged labels are not searchable yet: a loaded index has them deleted
      deleted: [...this.deleted, ...this.hidden],
      hidden: [...this.hidden],
    };
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    try {
      await this.index.writeIndex(tmp);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await writeAtomic(`${file}.json`, JSON.stringify(sidecar));
    this.file = file;
    this.fileBytes = (await stat(file)).size;
    this.fileElements = sidecar.elements;
  }

  /** Replace this index with the saved one. The file's dim must equal this index's dim; its M/ef settings are adopted. */
  async load(file: string): Promise<void> {
    let side: Sidecar;
    try {
      side = JSON.parse(await readFile(`${file}.json`, 'utf8')) as Sidecar;
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new RagError(missing ? 'NOT_FOUND' : 'CORRUPT', `HnswIndex.load: cannot read sidecar ${file}.json: ${(err as Error).message}`);
    }
    if (side.kind !== 'hnsw' || side.version !== 1) throw new RagError('CORRUPT', `HnswIndex.load: ${file}.json is not an HNSW sidecar (v1)`);
    if (side.dim !== this.dim) throw new RagError('INVALID_INPUT', `HnswIndex.load: ${file} has dim ${side.dim}, index has dim ${this.dim}`);
    const index = new hnswlib.HierarchicalNSW('ip', this.dim);
    try {
      await index.readIndex(file, false);
    } catch (err) {
      throw new RagError('CORRUPT', `HnswIndex.load: cannot read ${file}: ${(err as Error).message}`);
    }
    if (index.getCurrentCount() !== side.elements || side.live.length + side.deleted.length !== side.elements) {
      throw new RagError('CORRUPT', `HnswIndex.load: ${file} holds ${index.getCurrentCount()} elements, sidecar says ${side.elements}`);
    }
    for (const l of side.hidden ?? []) {
      try {
        index.markDelete(l);
      } catch (err) {
        throw new RagError('CORRUPT', `HnswIndex.load: ${file}: staged label ${l} cannot be marked deleted: ${(err as Error).message}`);
      }
    }
    index.setEf(side.efSearch);
    this.index = index;
    this.M = side.M;
    this.efConstruction = side.efConstruction;
    this.efSearch = side.efSearch;
    this.activeEf = side.efSearch;
    this.seed = side.seed;
    this.live.clear();
    this.liveBits = new Uint32Array(0);
    this.deleted.clear();
    this.hidden.clear();
    this.rowOf = new Map();
    this.rows = new Float32Array(0);
    this.nRows = 0;
    this.rowIndex = new Int32Array(0);
    for (const l of side.live) this.setLive(l, true);
    for (const l of side.deleted) this.deleted.add(l);
    this.file = file;
    this.fileBytes = (await stat(file)).size;
    this.fileElements = side.elements;
  }
}
