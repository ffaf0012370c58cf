import { readFile, rename, rm } from 'node:fs/promises';
import hnswlib from 'hnswlib-node';
import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel, VectorIndex } from '../types.ts';
import { writeAtomic } from '../util/write-atomic.ts';
import { checkLabel } from './label.ts';

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
 *
 * Files: `save(file)` writes hnswlib's own format to `file` and a sidecar `file + '.json'` with the parameters and the
 * live/deleted label sets. Each is written to a temporary name and renamed; the sidecar records the element count so a
 * crash between the two renames is detected on load (RagError 'CORRUPT').
 */

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
  private readonly scratch: number[];

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
      if (!this.live.has(l) && !this.deleted.has(l) && !seen.has(l)) fresh++;
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
      this.index.addPoint(this.normalised(vectors[i]), l);
      this.deleted.delete(l);
      this.live.add(l);
    }
  }

  remove(labels: number[]): void {
    for (const l of labels) {
      if (!this.live.has(l)) continue;
      this.index.markDelete(l);
      this.live.delete(l);
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
    const res = filter ? this.index.searchKnn(this.normalised(query), kk, filter) : this.index.searchKnn(this.normalised(query), kk);
    const out: ScoredLabel[] = new Array(res.neighbors.length);
    for (let i = 0; i < out.length; i++) out[i] = { label: res.neighbors[i], score: 1 - res.distances[i] };
    // hnswlib returns nearest first; float ties keep its order.
    return out;
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

  async save(file: string): Promise<void> {
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
      deleted: [...this.deleted],
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
    index.setEf(side.efSearch);
    this.index = index;
    this.M = side.M;
    this.efConstruction = side.efConstruction;
    this.efSearch = side.efSearch;
    this.activeEf = side.efSearch;
    this.seed = side.seed;
    this.live.clear();
    this.deleted.clear();
    for (const l of side.live) this.live.add(l);
    for (const l of side.deleted) this.deleted.add(l);
  }
}
