import { readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel, VectorIndex } from '../types.ts';
import { mulberry32 } from '../util/random.ts';
import { TopK } from '../util/topk.ts';
import { writeAtomic } from '../util/write-atomic.ts';
import { checkLabel } from './label.ts';
import { isMapped, loadIndexFile } from './mmap.ts';

/**
 * Approximate nearest-neighbour search with HNSW (Malkov & Yashunin), written here over typed arrays, with each
 * vector stored as int8 codes and one float32 scale: 104 bytes a vector instead of 400, and about 250 bytes a vector
 * with the graph, where hnswlib (`HnswIndex`) holds about 650. The memory behind the numbers:
 * shared/index/README.md, "Memory at 1M chunks".
 *
 * - Vectors are L2-normalised, then quantised per vector: code_j = round(v_j / s), s = max_j |v_j| / 127 (symmetric
 *   scalar quantisation; a unit vector's largest coordinate maps to ±127). A query stays float32: similarity =
 *   s · Σ q_j code_j, the cosine up to the quantisation error (asymmetric distance). Between two stored vectors
 *   (graph construction) the codes are multiplied as integers, exactly, then scaled.
 * - The graph is hnswlib's: levels drawn with mL = 1/ln M from a seeded generator (same data in the same order, same
 *   graph), M links per node on upper levels and 2M on the base level, neighbours chosen with the same heuristic
 *   (keep a candidate only if it is closer to the new node than to every neighbour kept so far), greedy descent
 *   through the upper levels and a beam of efConstruction on each level from the node's own down.
 * - Layout: per node, int8 codes (dim bytes), scale, label, level, flags and 2M int32 base-level links with a count;
 *   upper-level links in one pool (M + 1 int32 per level, for the 1/(M − 1) levels a node has on average); label →
 *   node in one int32 array (labels are dense from 0 in the engine). All arrays double when full.
 * - `remove` marks nodes deleted: they stay in the graph as waypoints and are never returned. `add` with a label
 *   already present deletes its old node and inserts a new one. Staging (`stage`/`reveal`/`discard`) works as in
 *   `HnswIndex`: staged nodes are in the graph but left out of results until revealed.
 * - `search(q, k, filter, ef)`: the filter runs inside the walk (rejected nodes still guide it, as in hnswlib),
 *   `ef` is the beam of this call (raised to k). `searchAmong(q, labels, k)`: exact ranking of the given labels by
 *   the same quantised similarity (their codes are in the index: no copies kept).
 *
 * File (`save`/`load`, little-endian, written to a temporary file and renamed into place; `load` keeps the arrays
 * as views into the file's bytes, no copy: a copy-on-write mapping of the file when index/mmap.ts can map it, shared
 * with every other process that maps it; the first insert copies the arrays into growable ones):
 *
 *     0   "HNSWI8\0\1"   8 bytes (magic + format version 1)
 *     8   u32 header length, then a JSON header {dim, M, efConstruction, efSearch, seed, nodes, labels, entry,
 *         maxLevel, upper, rng}, zero-padded to a multiple of 8
 *         then the arrays, each padded to 8 bytes: codes i8[nodes × dim], scale f32[nodes], label i32[nodes],
 *         level u8[nodes], flags u8[nodes], count0 u8[nodes], links0 i32[nodes × 2M], upperAt i32[nodes],
 *         upper i32[upper]
 */

export interface CompactHnswOptions {
  /** Vector dimension (required). */
  dim: number;
  /** Graph degree: links per node on upper levels (2M on the base level). Default 16. */
  M?: number;
  /** Beam width while inserting. Default 200. */
  efConstruction?: number;
  /** Beam width while searching (raised to k when k is larger). Default 160. */
  efSearch?: number;
  /** Nodes allocated up front; arrays double when full. Default 1024. */
  initialCapacity?: number;
  /** Seed of the level generator. Default 100. */
  seed?: number;
}

const DELETED = 1;
const HIDDEN = 2;
const MAGIC = Buffer.from('HNSWI8\0\x01', 'latin1');

interface Header {
  dim: number;
  M: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  nodes: number;
  labels: number;
  entry: number;
  maxLevel: number;
  upper: number;
  /** Draws taken from the level generator so far (a loaded index continues the same sequence). */
  draws: number;
}

/** A binary heap over (node, similarity) pairs in typed arrays; `max` true pops the most similar first. */
class Heap {
  nodes: Int32Array;
  sims: Float64Array;
  size = 0;
  constructor(
    capacity: number,
    private readonly max: boolean,
  ) {
    this.nodes = new Int32Array(capacity);
    this.sims = new Float64Array(capacity);
  }
  clear(): void {
    this.size = 0;
  }
  private better(a: number, b: number): boolean {
    return this.max ? a > b : a < b;
  }
  push(node: number, sim: number): void {
    if (this.size === this.nodes.length) {
      const n = new Int32Array(this.size * 2);
      n.set(this.nodes);
      this.nodes = n;
      const s = new Float64Array(this.size * 2);
      s.set(this.sims);
      this.sims = s;
    }
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(sim, this.sims[p])) break;
      this.nodes[i] = this.nodes[p];
      this.sims[i] = this.sims[p];
      i = p;
    }
    this.nodes[i] = node;
    this.sims[i] = sim;
  }
  /** The top's similarity (the most similar for a max-heap, the least for a min-heap). */
  topSim(): number {
    return this.sims[0];
  }
  topNode(): number {
    return this.nodes[0];
  }
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const node = this.nodes[n];
    const sim = this.sims[n];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.better(this.sims[c + 1], this.sims[c])) c++;
      if (!this.better(this.sims[c], sim)) break;
      this.nodes[i] = this.nodes[c];
      this.sims[i] = this.sims[c];
      i = c;
    }
    this.nodes[i] = node;
    this.sims[i] = sim;
  }
}

export class CompactHnswIndex implements VectorIndex {
  readonly kind = 'hnsw-i8';
  readonly dim: number;
  private M: number;
  private M0: number;
  private efConstruction: number;
  private efSearch: number;
  private seed: number;
  private mL: number;
  private rand: () => number;
  private draws = 0;

  private cap: number;
  private n = 0;
  private codes: Int8Array;
  private scale: Float32Array;
  private nodeLabel: Int32Array;
  private level: Uint8Array;
  private flags: Uint8Array;
  private count0: Uint8Array;
  private links0: Int32Array;
  private upperAt: Int32Array;
  private upper: Int32Array = new Int32Array(1024);
  private upperLen = 0;
  /** label → node + 1 (0: none). */
  private nodeOf: Int32Array = new Int32Array(1024);
  private entry = -1;
  private maxLevel = -1;
  private live = 0;
  private hiddenCount = 0;

  // search scratch
  private visited: Uint16Array;
  private epoch = 0;
  private readonly cand = new Heap(256, true);
  private readonly results = new Heap(256, false);
  private readonly q: Float32Array;
  private readonly qCodes: Int8Array;
  private selected = new Int32Array(64);
  private selSims = new Float64Array(64);

  constructor(opts: CompactHnswOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new RagError('INVALID_INPUT', `CompactHnswIndex: dim must be a positive integer, got ${opts.dim}`);
    this.dim = opts.dim;
    this.M = opts.M ?? 16;
    if (!Number.isInteger(this.M) || this.M < 2 || this.M > 127) throw new RagError('INVALID_INPUT', `CompactHnswIndex: M must be an integer from 2 to 127, got ${opts.M}`);
    this.M0 = 2 * this.M;
    this.efConstruction = opts.efConstruction ?? 200;
    this.efSearch = opts.efSearch ?? 160;
    this.seed = opts.seed ?? 100;
    this.mL = 1 / Math.log(this.M);
    this.rand = mulberry32(this.seed);
    this.cap = Math.max(1, opts.initialCapacity ?? 1024);
    this.codes = new Int8Array(this.cap * this.dim);
    this.scale = new Float32Array(this.cap);
    this.nodeLabel = new Int32Array(this.cap);
    this.level = new Uint8Array(this.cap);
    this.flags = new Uint8Array(this.cap);
    this.count0 = new Uint8Array(this.cap);
    this.links0 = new Int32Array(this.cap * this.M0);
    this.upperAt = new Int32Array(this.cap);
    this.visited = new Uint16Array(this.cap);
    this.q = new Float32Array(this.dim);
    this.qCodes = new Int8Array(this.dim);
  }

  get size(): number {
    return this.live;
  }

  /** Nodes in the graph (live, staged and deleted). */
  get nodes(): number {
    return this.n;
  }

  get capacity(): number {
    return this.cap;
  }

  get ef(): number {
    return this.efSearch;
  }

  get staged(): number {
    return this.hiddenCount;
  }

  setEfSearch(ef: number): void {
    if (!Number.isInteger(ef) || ef <= 0) throw new RagError('INVALID_INPUT', `CompactHnswIndex.setEfSearch: ef must be a positive integer, got ${ef}`);
    this.efSearch = ef;
  }

  private nodeFor(label: number): number {
    return label < this.nodeOf.length ? this.nodeOf[label] - 1 : -1;
  }

  has(label: number): boolean {
    const node = this.nodeFor(label);
    return node >= 0 && this.flags[node] === 0;
  }

  // ---------------------------------------------------------------------------------------------------- storage

  private grow(need: number): void {
    if (need <= this.cap) return;
    // doubling while small, then by an eighth: a million-node index grows by 125k nodes (31 MB), not by a million
    let cap = this.cap;
    while (cap < need) cap = cap < 1 << 17 ? cap * 2 : cap + (cap >> 3);
    const g = <T extends Int8Array | Uint8Array | Uint16Array | Int32Array | Float32Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.codes = g(this.codes, cap * this.dim);
    this.scale = g(this.scale, cap);
    this.nodeLabel = g(this.nodeLabel, cap);
    this.level = g(this.level, cap);
    this.flags = g(this.flags, cap);
    this.count0 = g(this.count0, cap);
    this.links0 = g(this.links0, cap * this.M0);
    this.upperAt = g(this.upperAt, cap);
    this.visited = new Uint16Array(cap);
    this.epoch = 0;
    this.cap = cap;
  }

  private mapLabel(label: number, node: number): void {
    if (label >= this.nodeOf.length) {
      const b = new Int32Array(Math.max(label + 1, this.nodeOf.length * 2));
      b.set(this.nodeOf);
      this.nodeOf = b;
    }
    this.nodeOf[label] = node + 1;
  }

  /** Normalises `v` into this.q; returns false for a zero vector. */
  private loadQuery(v: Float32Array): boolean {
    const q = this.q;
    let s = 0;
    for (let j = 0; j < this.dim; j++) s += v[j] * v[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < this.dim; j++) q[j] = v[j] * inv;
    return s > 0;
  }

  /** Quantises this.q into node `node`'s codes and scale. */
  private store(node: number): void {
    const q = this.q;
    const dim = this.dim;
    let m = 0;
    for (let j = 0; j < dim; j++) {
      const a = Math.abs(q[j]);
      if (a > m) m = a;
    }
    const off = node * dim;
    if (m === 0) {
      this.codes.fill(0, off, off + dim);
      this.scale[node] = 0;
      return;
    }
    const inv = 127 / m;
    for (let j = 0; j < dim; j++) this.codes[off + j] = Math.round(q[j] * inv);
    this.scale[node] = m / 127;
  }

  /** While inserting: the new node, whose codes are the query (integer dot products, see `simNodes`). */
  private qNode = -1;

  /** Similarity of the loaded query (this.q, or the node being inserted) to a node. */
  private simQ(node: number): number {
    if (this.qNode >= 0) return this.simNodes(this.qNode, node);
    const q = this.q;
    const c = this.codes;
    const dim = this.dim;
    const off = node * dim;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let j = 0;
    for (; j + 3 < dim; j += 4) {
      s0 += q[j] * c[off + j];
      s1 += q[j + 1] * c[off + j + 1];
      s2 += q[j + 2] * c[off + j + 2];
      s3 += q[j + 3] * c[off + j + 3];
    }
    for (; j < dim; j++) s0 += q[j] * c[off + j];
    return (s0 + s1 + s2 + s3) * this.scale[node];
  }

  /** Similarity of two stored nodes (integer dot product of their codes, scaled). */
  private simNodes(a: number, b: number): number {
    const c = this.codes;
    const dim = this.dim;
    const oa = a * dim;
    const ob = b * dim;
    // small integers throughout (|sum| ≤ dim · 127²): V8 keeps them in int32 registers
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let j = 0;
    for (; j + 3 < dim; j += 4) {
      s0 += c[oa + j] * c[ob + j];
      s1 += c[oa + j + 1] * c[ob + j + 1];
      s2 += c[oa + j + 2] * c[ob + j + 2];
      s3 += c[oa + j + 3] * c[ob + j + 3];
    }
    for (; j < dim; j++) s0 += c[oa + j] * c[ob + j];
    return (s0 + s1 + s2 + s3) * this.scale[a] * this.scale[b];
  }

  // ------------------------------------------------------------------------------------------------------ links

  /** Offset of node's link list at `lvl` in `links0` (level 0) or `upper`: [count, ids…] for upper levels. */
  private linkCount(node: number, lvl: number): number {
    return lvl === 0 ? this.count0[node] : this.upper[this.upperAt[node] + (lvl - 1) * (this.M + 1)];
  }

  private linkBase(node: number, lvl: number): number {
    return lvl === 0 ? node * this.M0 : this.upperAt[node] + (lvl - 1) * (this.M + 1) + 1;
  }

  private linkArray(lvl: number): Int32Array {
    return lvl === 0 ? this.links0 : this.upper;
  }

  private setLinks(node: number, lvl: number, ids: Int32Array, n: number): void {
    const arr = this.linkArray(lvl);
    const base = this.linkBase(node, lvl);
    for (let i = 0; i < n; i++) arr[base + i] = ids[i];
    if (lvl === 0) this.count0[node] = n;
    else this.upper[base - 1] = n;
  }

  // ----------------------------------------------------------------------------------------------------- search

  private nextEpoch(): number {
    if (++this.epoch === 65_536) {
      this.visited.fill(0);
      this.epoch = 1;
    }
    return this.epoch;
  }

  /** Greedy walk at one level from `start` towards the query (beam 1). */
  private greedy(start: number, lvl: number): number {
    let cur = start;
    let best = this.simQ(cur);
    for (let changed = true; changed; ) {
      changed = false;
      const n = this.linkCount(cur, lvl);
      const arr = this.linkArray(lvl);
      const base = this.linkBase(cur, lvl);
      for (let i = 0; i < n; i++) {
        const e = arr[base + i];
        const s = this.simQ(e);
        if (s > best) {
          best = s;
          cur = e;
          changed = true;
        }
      }
    }
    return cur;
  }

  /**
   * Beam search at one level from `start`; leaves up to `ef` accepted nodes in `this.results` (a min-heap).
   * `accept(node)` decides which nodes may be results (all when undefined); every node guides the walk.
   */
  private searchLayer(start: number, ef: number, lvl: number, accept: ((node: number) => boolean) | undefined): void {
    const cand = this.cand;
    const results = this.results;
    cand.clear();
    results.clear();
    const visited = this.visited;
    const epoch = this.nextEpoch();
    visited[start] = epoch;
    const s0 = this.simQ(start);
    cand.push(start, s0);
    if (accept === undefined || accept(start)) results.push(start, s0);
    const arr = this.linkArray(lvl);
    while (cand.size > 0) {
      const c = cand.topNode();
      const sc = cand.topSim();
      if (results.size >= ef && sc < results.topSim()) break;
      cand.pop();
      const n = this.linkCount(c, lvl);
      const base = this.linkBase(c, lvl);
      for (let i = 0; i < n; i++) {
        const e = arr[base + i];
        if (visited[e] === epoch) continue;
        visited[e] = epoch;
        const s = this.simQ(e);
        if (results.size < ef || s > results.topSim()) {
          cand.push(e, s);
          if (accept === undefined || accept(e)) {
            results.push(e, s);
            if (results.size > ef) results.pop();
          }
        }
      }
    }
  }

  search(query: Float32Array, k: number, filter?: LabelFilter, ef?: number): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `CompactHnswIndex.search: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    const kk = Math.min(Math.floor(k), this.live);
    if (!(kk > 0) || this.entry < 0) return [];
    this.loadQuery(query);
    let cur = this.entry;
    for (let lvl = this.maxLevel; lvl > 0; lvl--) cur = this.greedy(cur, lvl);
    const beam = Math.max(kk, ef === undefined ? this.efSearch : Math.max(1, Math.floor(ef)));
    const flags = this.flags;
    const labels = this.nodeLabel;
    const accept = filter === undefined ? (node: number) => flags[node] === 0 : (node: number) => flags[node] === 0 && filter(labels[node]);
    this.searchLayer(cur, beam, 0, accept);
    const results = this.results;
    while (results.size > kk) results.pop();
    const out: ScoredLabel[] = new Array(results.size);
    for (let i = results.size - 1; i >= 0; i--) {
      out[i] = { label: labels[results.topNode()], score: results.topSim() };
      results.pop();
    }
    return out;
  }

  searchAmong(query: Float32Array, labels: ArrayLike<number>, k: number): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `CompactHnswIndex.searchAmong: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    const kk = Math.min(Math.floor(k), labels.length);
    if (!(kk > 0)) return [];
    this.loadQuery(query);
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
      if (i > 0 && l === ordered[i - 1]) continue;
      const node = Number.isInteger(l) && l >= 0 ? this.nodeFor(l) : -1;
      if (node < 0 || this.flags[node] !== 0) continue;
      const s = this.simQ(node);
      if (s > top.threshold) top.push(l, s);
    }
    return top.drain();
  }

  // ----------------------------------------------------------------------------------------------------- insert

  private randomLevel(): number {
    this.draws++;
    const r = this.rand();
    return Math.min(60, Math.floor(-Math.log(1 - r) * this.mL));
  }

  /**
   * hnswlib's neighbour heuristic over the candidates in `this.results` (similarities to the new point): keeps a
   * candidate, best first, when it is more similar to the new point than to every one kept so far. Leaves the kept
   * nodes in this.selected[0..n) and returns n.
   */
  private selectNeighbours(max: number): number {
    const results = this.results;
    // drain the min-heap: worst first, then reverse to best first
    const m = results.size;
    if (this.selected.length < m) {
      this.selected = new Int32Array(m * 2);
      this.selSims = new Float64Array(m * 2);
    }
    const order = this.selected;
    const sims = this.selSims;
    for (let i = m - 1; i >= 0; i--) {
      order[i] = results.topNode();
      sims[i] = results.topSim();
      results.pop();
    }
    if (m <= max) return m;
    let kept = 0;
    for (let i = 0; i < m && kept < max; i++) {
      const c = order[i];
      const sc = sims[i];
      let good = true;
      for (let j = 0; j < kept; j++) {
        if (this.simNodes(order[j], c) > sc) {
          good = false;
          break;
        }
      }
      if (good) {
        order[kept] = c;
        sims[kept] = sc;
        kept++;
      }
    }
    return kept;
  }

  /** Adds `node` to `nb`'s list at `lvl`, shrinking the list with the heuristic when it is full. */
  private linkBack(nb: number, node: number, lvl: number): void {
    const max = lvl === 0 ? this.M0 : this.M;
    const n = this.linkCount(nb, lvl);
    const arr = this.linkArray(lvl);
    const base = this.linkBase(nb, lvl);
    for (let i = 0; i < n; i++) if (arr[base + i] === node) return;
    if (n < max) {
      arr[base + n] = node;
      if (lvl === 0) this.count0[nb] = n + 1;
      else this.upper[base - 1] = n + 1;
      return;
    }
    // full: choose among the current links and the new node by similarity to nb
    const results = this.results;
    results.clear();
    results.push(node, this.simNodes(nb, node));
    for (let i = 0; i < n; i++) results.push(arr[base + i], this.simNodes(nb, arr[base + i]));
    const kept = this.selectNeighbours(max);
    this.setLinks(nb, lvl, this.selected, kept);
  }

  private insert(label: number, vector: Float32Array): void {
    this.grow(this.n + 1);
    const node = this.n++;
    this.loadQuery(vector);
    this.store(node);
    const lvl = this.randomLevel();
    this.nodeLabel[node] = label;
    this.level[node] = lvl;
    this.flags[node] = 0;
    this.count0[node] = 0;
    if (lvl > 0) {
      const need = this.upperLen + lvl * (this.M + 1);
      if (need > this.upper.length) {
        const b = new Int32Array(Math.max(need, this.upper.length < 1 << 20 ? this.upper.length * 2 : this.upper.length + (this.upper.length >> 3)));
        b.set(this.upper);
        this.upper = b;
      }
      this.upperAt[node] = this.upperLen;
      this.upper.fill(0, this.upperLen, need);
      this.upperLen = need;
    } else this.upperAt[node] = -1;
    this.mapLabel(label, node);
    if (this.entry < 0) {
      this.entry = node;
      this.maxLevel = lvl;
      return;
    }
    // the graph is built from the stored codes alone (integer dot products): what a search will compare against
    this.qNode = node;
    try {
      this.link(node, lvl);
    } finally {
      this.qNode = -1;
    }
    if (lvl > this.maxLevel) {
      this.maxLevel = lvl;
      this.entry = node;
    }
  }

  private link(node: number, lvl: number): void {
    let cur = this.entry;
    for (let l = this.maxLevel; l > lvl; l--) cur = this.greedy(cur, l);
    for (let l = Math.min(lvl, this.maxLevel); l >= 0; l--) {
      this.searchLayer(cur, this.efConstruction, l, undefined);
      // the best candidate is the entry for the next level down
      const best = this.bestOfResults();
      const kept = this.selectNeighbours(this.M);
      const chosen = this.selected.slice(0, kept);
      this.setLinks(node, l, chosen, kept);
      for (let i = 0; i < kept; i++) this.linkBack(chosen[i], node, l);
      cur = best;
    }
  }

  private bestOfResults(): number {
    const r = this.results;
    let best = r.nodes[0];
    let bs = r.sims[0];
    for (let i = 1; i < r.size; i++) {
      if (r.sims[i] > bs) {
        bs = r.sims[i];
        best = r.nodes[i];
      }
    }
    return best;
  }

  add(labels: number[], vectors: Float32Array[]): void {
    if (labels.length !== vectors.length) {
      throw new RagError('INVALID_INPUT', `CompactHnswIndex.add: ${labels.length} labels but ${vectors.length} vectors`);
    }
    for (let i = 0; i < labels.length; i++) {
      checkLabel(labels[i], 'CompactHnswIndex.add');
      if (vectors[i].length !== this.dim) {
        throw new RagError('INVALID_INPUT', `CompactHnswIndex.add: vector ${i} has dim ${vectors[i].length}, index has dim ${this.dim}`);
      }
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      const old = this.nodeFor(l);
      if (old >= 0) this.retire(old);
      this.insert(l, vectors[i]);
      this.live++;
    }
  }

  /** Marks a node deleted (a waypoint from now on), keeping the counts right. */
  private retire(node: number): void {
    const f = this.flags[node];
    if (f & DELETED) return;
    if (f & HIDDEN) this.hiddenCount--;
    else this.live--;
    this.flags[node] = DELETED;
  }

  stage(labels: number[], vectors: Float32Array[]): void {
    for (const l of labels) {
      if (this.nodeFor(l) >= 0) throw new RagError('INVALID_INPUT', `CompactHnswIndex.stage: label ${l} is already in the index`);
    }
    this.add(labels, vectors);
    for (const l of labels) {
      this.flags[this.nodeFor(l)] = HIDDEN;
      this.live--;
      this.hiddenCount++;
    }
  }

  reveal(labels: number[]): void {
    for (const l of labels) {
      const node = this.nodeFor(l);
      if (node < 0 || this.flags[node] !== HIDDEN) throw new RagError('INVALID_INPUT', `CompactHnswIndex.reveal: label ${l} is not staged`);
    }
    for (const l of labels) {
      this.flags[this.nodeFor(l)] = 0;
      this.hiddenCount--;
      this.live++;
    }
  }

  discard(labels: number[]): void {
    for (const l of labels) {
      const node = this.nodeFor(l);
      if (node >= 0 && this.flags[node] === HIDDEN) this.retire(node);
    }
  }

  remove(labels: number[]): void {
    for (const l of labels) {
      const node = this.nodeFor(l);
      if (node >= 0 && this.flags[node] === 0) this.retire(node);
    }
  }

  // ------------------------------------------------------------------------------------------------------ files

  memory(): { part: string; bytes: number; how: string }[] {
    const n = this.n;
    const cap = this.cap;
    const shared = (a: ArrayBufferView) => (isMapped(a) ? ' (mapped file, shared between processes)' : '');
    return [
      { part: 'vectors', bytes: cap * (this.dim + 4), how: `${n} nodes × (${this.dim} int8 + float32 scale), ${cap} allocated${shared(this.codes)}` },
      {
        part: 'graph',
        bytes: cap * (this.M0 * 4 + 1 + 4 + 4 + 1 + 1 + 2) + this.upper.byteLength + this.nodeOf.byteLength,
        how: `base links ${this.M0} int32 + count, label, level, flags, visited mark, upper offset per node; upper-level pool ${this.upperLen} int32; label → node${shared(this.links0)}`,
      },
    ];
  }

  /** Whether the node arrays are views over a mapped file (index/mmap.ts) rather than memory of this process. */
  get mapped(): boolean {
    return isMapped(this.codes);
  }

  async save(file: string): Promise<void> {
    const n = this.n;
    const header: Header = {
      dim: this.dim,
      M: this.M,
      efConstruction: this.efConstruction,
      efSearch: this.efSearch,
      seed: this.seed,
      nodes: n,
      labels: this.nodeOf.length,
      entry: this.entry,
      maxLevel: this.maxLevel,
      upper: this.upperLen,
      draws: this.draws,
    };
    // staged nodes are written deleted (a loaded index has them deleted, like HnswIndex)
    const flags = this.flags.slice(0, n);
    for (let i = 0; i < n; i++) if (flags[i] === HIDDEN) flags[i] = DELETED;
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const pad = (b: Uint8Array): Uint8Array[] => {
      const rest = (8 - (b.byteLength % 8)) % 8;
      return rest === 0 ? [b] : [b, new Uint8Array(rest)];
    };
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const head = Buffer.alloc(Math.ceil((12 + json.length) / 8) * 8);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(json.length, 8);
    json.copy(head, 12);
    const parts: Uint8Array[] = [
      head,
      ...pad(bytes(this.codes.subarray(0, n * this.dim))),
      ...pad(bytes(this.scale.subarray(0, n))),
      ...pad(bytes(this.nodeLabel.subarray(0, n))),
      ...pad(bytes(this.level.subarray(0, n))),
      ...pad(bytes(flags)),
      ...pad(bytes(this.count0.subarray(0, n))),
      ...pad(bytes(this.links0.subarray(0, n * this.M0))),
      ...pad(bytes(this.upperAt.subarray(0, n))),
      ...pad(bytes(this.upper.subarray(0, this.upperLen))),
    ];
    await writeAtomic(file, parts);
  }

  /**
   * An index with the graph of a saved hnswlib index (`HnswIndex.save`'s file, inner-product space over normalised
   * vectors): the same nodes in the same order, the same links on every level, the same entry point; each float32
   * vector quantised to int8 codes here. For building a large graph with hnswlib's faster native insertion
   * (`npm run index -- --graph hnswlib`, shared/serve/hnswlib-build.ts). Layout read (hnswlib's saveIndex): a 96-byte
   * header, then per element the base-level block [u32 count (low 16 bits; bit 16 of byte 2 = deleted),
   * maxM0 × u32 links, dim × f32, u64 label], then per element a u32 byte size and that many bytes of upper-level
   * blocks [u32 count, maxM × u32 links].
   */
  static async fromHnswlib(file: string, opts: Omit<CompactHnswOptions, 'initialCapacity'>): Promise<CompactHnswIndex> {
    const buf = await readFile(file);
    const corrupt = (why: string): never => {
      throw new RagError('CORRUPT', `CompactHnswIndex.fromHnswlib: ${file}: ${why}`);
    };
    if (buf.length < 96) corrupt('too short');
    const u64 = (at: number) => Number(buf.readBigUInt64LE(at));
    const n = u64(16);
    const sizePerElement = u64(24);
    const labelOffset = u64(32);
    const dataOffset = u64(40);
    const maxLevel = buf.readInt32LE(48);
    const entry = buf.readUInt32LE(52);
    const maxM = u64(56);
    const maxM0 = u64(64);
    const M = u64(72);
    const efConstruction = u64(88);
    if (maxM !== M || maxM0 !== 2 * M || dataOffset !== 4 + 4 * maxM0 || labelOffset !== dataOffset + 4 * opts.dim || sizePerElement !== labelOffset + 8) {
      corrupt(`layout (M ${M}, maxM0 ${maxM0}, data at ${dataOffset}, label at ${labelOffset}) does not match dim ${opts.dim}`);
    }
    const index = new CompactHnswIndex({ ...opts, M, efConstruction: opts.efConstruction ?? efConstruction, initialCapacity: Math.max(1, n) });
    const dim = opts.dim;
    const vec = new Float32Array(dim);
    let at = 96;
    const levelAt = 96 + n * sizePerElement;
    if (levelAt > buf.length) corrupt('truncated base level');
    for (let i = 0; i < n; i++, at += sizePerElement) {
      const count = buf.readUInt16LE(at);
      const deleted = (buf[at + 2] & 1) !== 0;
      if (count > maxM0) corrupt(`element ${i}: ${count} links`);
      for (let j = 0; j < count; j++) index.links0[i * maxM0 + j] = buf.readUInt32LE(at + 4 + 4 * j);
      index.count0[i] = count;
      for (let j = 0; j < dim; j++) vec[j] = buf.readFloatLE(at + dataOffset + 4 * j);
      index.loadQuery(vec);
      index.store(i);
      const label = u64(at + labelOffset);
      index.nodeLabel[i] = label;
      index.flags[i] = deleted ? DELETED : 0;
      if (!deleted) {
        index.mapLabel(label, i);
        index.live++;
      } else if (index.nodeFor(label) < 0) index.mapLabel(label, i);
    }
    at = levelAt;
    const perLevel = 4 + 4 * maxM;
    for (let i = 0; i < n; i++) {
      if (at + 4 > buf.length) corrupt('truncated upper levels');
      const bytes = buf.readUInt32LE(at);
      at += 4;
      const levels = bytes / perLevel;
      if (!Number.isInteger(levels) || at + bytes > buf.length) corrupt(`element ${i}: upper-level size ${bytes}`);
      index.level[i] = levels;
      if (levels === 0) {
        index.upperAt[i] = -1;
        continue;
      }
      const need = index.upperLen + levels * (M + 1);
      if (need > index.upper.length) {
        const b = new Int32Array(Math.max(need, index.upper.length * 2));
        b.set(index.upper);
        index.upper = b;
      }
      index.upperAt[i] = index.upperLen;
      for (let l = 0; l < levels; l++) {
        const o = at + l * perLevel;
        const count = buf.readUInt16LE(o);
        const dst = index.upperLen + l * (M + 1);
        index.upper[dst] = count;
        for (let j = 0; j < count; j++) index.upper[dst + 1 + j] = buf.readUInt32LE(o + 4 + 4 * j);
      }
      index.upperLen = need;
      at += bytes;
    }
    index.n = n;
    index.entry = n > 0 ? entry : -1;
    index.maxLevel = n > 0 ? maxLevel : -1;
    return index;
  }

  async load(file: string): Promise<void> {
    let buf: Buffer;
    try {
      // mapped when the addon is there (index/mmap.ts): the arrays below are then views shared by every process
      // that loads this file, and a write (add, remove) copies only the page it touches
      buf = await loadIndexFile(file);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new RagError(missing ? 'NOT_FOUND' : 'CORRUPT', `CompactHnswIndex.load: cannot read ${file}: ${(err as Error).message}`);
    }
    const corrupt = (why: string): never => {
      throw new RagError('CORRUPT', `CompactHnswIndex.load: ${file}: ${why}`);
    };
    if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) corrupt('not an int8 HNSW index (format 1)');
    const jsonLen = buf.readUInt32LE(8);
    let h: Header;
    try {
      h = JSON.parse(buf.toString('utf8', 12, 12 + jsonLen));
    } catch {
      return corrupt('header is not JSON');
    }
    if (h.dim !== this.dim) throw new RagError('INVALID_INPUT', `CompactHnswIndex.load: ${file} has dim ${h.dim}, index has dim ${this.dim}`);
    let at = Math.ceil((12 + jsonLen) / 8) * 8;
    const take = <T>(Ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }, count: number): T => {
      const bytes = count * Ctor.BYTES_PER_ELEMENT;
      if (at + bytes > buf.length) corrupt('truncated');
      let view: T;
      if ((buf.byteOffset + at) % 8 === 0) view = new Ctor(buf.buffer as ArrayBuffer, buf.byteOffset + at, count);
      else {
        // a small file in Node's shared pool can sit at any offset: copy that one
        const own = new ArrayBuffer(bytes);
        new Uint8Array(own).set(buf.subarray(at, at + bytes));
        view = new Ctor(own, 0, count);
      }
      at += Math.ceil(bytes / 8) * 8;
      return view;
    };
    const n = h.nodes;
    const M0 = 2 * h.M;
    const codes = take(Int8Array, n * h.dim);
    const scale = take(Float32Array, n);
    const nodeLabel = take(Int32Array, n);
    const level = take(Uint8Array, n);
    const flags = take(Uint8Array, n);
    const count0 = take(Uint8Array, n);
    const links0 = take(Int32Array, n * M0);
    const upperAt = take(Int32Array, n);
    const upper = take(Int32Array, h.upper);
    this.M = h.M;
    this.M0 = M0;
    this.efConstruction = h.efConstruction;
    this.efSearch = h.efSearch;
    this.seed = h.seed;
    this.mL = 1 / Math.log(h.M);
    this.rand = mulberry32(h.seed);
    for (let i = 0; i < h.draws; i++) this.rand();
    this.draws = h.draws;
    this.cap = Math.max(1, n);
    this.n = n;
    this.codes = codes;
    this.scale = scale;
    this.nodeLabel = nodeLabel;
    this.level = level;
    this.flags = flags;
    this.count0 = count0;
    this.links0 = links0;
    this.upperAt = upperAt;
    this.upper = upper.length > 0 ? upper : new Int32Array(16);
    this.upperLen = h.upper;
    this.visited = new Uint16Array(this.cap);
    this.epoch = 0;
    this.entry = h.entry;
    this.maxLevel = h.maxLevel;
    this.nodeOf = new Int32Array(Math.max(16, h.labels));
    this.live = 0;
    this.hiddenCount = 0;
    for (let i = 0; i < n; i++) {
      const l = nodeLabel[i];
      if (l < 0) corrupt(`node ${i} has label ${l}`);
      if (flags[i] !== 0 && flags[i] !== DELETED) corrupt(`node ${i} has flags ${flags[i]}`);
      if (count0[i] > M0) corrupt(`node ${i} has ${count0[i]} links`);
      if (flags[i] === 0) {
        this.live++;
        this.mapLabel(l, i);
      } else if (this.nodeFor(l) < 0) this.mapLabel(l, i);
    }
  }
}
