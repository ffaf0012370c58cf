import { readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import type { LabelFilter, ScoredLabel, VectorIndex } from '../types.ts';
import { TopK } from '../util/topk.ts';
import { writeAtomic } from '../util/write-atomic.ts';
import { checkLabel } from './label.ts';

/**
 * Exact (brute-force) cosine search. Vectors are L2-normalised on add and packed row after row in one growable
 * Float32Array, so a search is one sequential pass of dot products over contiguous memory.
 *
 * - `add` with a label already present replaces its vector; a zero vector is stored as zero (scores 0 against all).
 * - `remove` moves the last row into the hole (swap-with-last): O(dim), rows stay dense, row order is not stable.
 * - `search` skips rows the filter rejects before scoring them; scores are cosine similarities, best first
 *   (ties: lower label first). `searchAmong(query, labels, k)` scores only the given labels (a filter's few
 *   candidates) and returns exactly what `search` with a filter passing those labels returns.
 * - Labels are integers in [0, 2^31 - 1].
 * - A search allocates only the hits it returns: the normalised query, the top-k heap and `searchAmong`'s row list
 *   live in scratch buffers the index keeps and reuses from one search to the next (a search is synchronous; a
 *   filter that searches the same index again from inside a search gets buffers of its own). Why, and what it
 *   saves per query: t2_memory_storage_optimization/01-memory-pool.
 *
 * File format (`save`/`load`, little-endian, written to a temporary file and renamed into place):
 *
 *     0  "FLATIDX1"  8 ASCII bytes
 *     8  u32 dim
 *    12  u32 count
 *    16  i32[count]          labels, row order
 *     …  f32[count × dim]    normalised vectors, row-major
 */

export interface FlatIndexOptions {
  /** Vector dimension (required). */
  dim: number;
  /** Rows to allocate up front. Default 1024; the buffer doubles when full. */
  initialCapacity?: number;
}

const MAGIC = 'FLATIDX1';
const HEADER_BYTES = 16;

export class FlatIndex implements VectorIndex {
  readonly kind = 'flat';
  readonly dim: number;
  private data: Float32Array;
  private rowLabels: Int32Array;
  private readonly rowOf = new Map<number, number>();
  private n = 0;
  // search scratch, reused by every search (see the class comment)
  private readonly qScratch: Float32Array;
  private readonly heap = new TopK(16);
  private rowsScratch = new Int32Array(0);
  /** A search is running: a nested one (from inside a filter) must not use the scratch. */
  private searching = false;

  constructor(opts: FlatIndexOptions | number) {
    const o = typeof opts === 'number' ? { dim: opts } : opts;
    if (!Number.isInteger(o.dim) || o.dim <= 0) throw new RagError('INVALID_INPUT', `FlatIndex: dim must be a positive integer, got ${o.dim}`);
    this.dim = o.dim;
    const cap = Math.max(1, o.initialCapacity ?? 1024);
    this.data = new Float32Array(cap * this.dim);
    this.rowLabels = new Int32Array(cap);
    this.qScratch = new Float32Array(this.dim);
  }

  get size(): number {
    return this.n;
  }

  /** Rows the current buffer holds before it must grow. */
  get capacity(): number {
    return this.rowLabels.length;
  }

  has(label: number): boolean {
    return this.rowOf.has(label);
  }

  /** The stored (normalised) vector of a label, a view into the index (copy it before mutating the index). */
  vector(label: number): Float32Array | undefined {
    const r = this.rowOf.get(label);
    return r === undefined ? undefined : this.data.subarray(r * this.dim, (r + 1) * this.dim);
  }

  /** Live labels in row order. */
  labels(): number[] {
    return Array.from(this.rowLabels.subarray(0, this.n));
  }

  add(labels: number[], vectors: Float32Array[]): void {
    if (labels.length !== vectors.length) {
      throw new RagError('INVALID_INPUT', `FlatIndex.add: ${labels.length} labels but ${vectors.length} vectors`);
    }
    for (let i = 0; i < labels.length; i++) {
      checkLabel(labels[i], 'FlatIndex.add');
      if (vectors[i].length !== this.dim) {
        throw new RagError('INVALID_INPUT', `FlatIndex.add: vector ${i} has dim ${vectors[i].length}, index has dim ${this.dim}`);
      }
    }
    this.reserve(this.n + labels.length);
    const dim = this.dim;
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      let r = this.rowOf.get(label);
      if (r === undefined) {
        r = this.n++;
        this.rowOf.set(label, r);
        this.rowLabels[r] = label;
      }
      const v = vectors[i];
      let s = 0;
      for (let j = 0; j < dim; j++) s += v[j] * v[j];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      const off = r * dim;
      for (let j = 0; j < dim; j++) this.data[off + j] = v[j] * inv;
    }
  }

  /** Make room for `rows` rows (amortised doubling). */
  reserve(rows: number): void {
    if (rows <= this.rowLabels.length) return;
    let cap = this.rowLabels.length;
    while (cap < rows) cap *= 2;
    const data = new Float32Array(cap * this.dim);
    data.set(this.data.subarray(0, this.n * this.dim));
    const rl = new Int32Array(cap);
    rl.set(this.rowLabels.subarray(0, this.n));
    this.data = data;
    this.rowLabels = rl;
  }

  /** Remove labels; unknown labels are ignored. */
  remove(labels: number[]): void {
    const dim = this.dim;
    for (const label of labels) {
      const r = this.rowOf.get(label);
      if (r === undefined) continue;
      this.rowOf.delete(label);
      const last = --this.n;
      if (r !== last) {
        const moved = this.rowLabels[last];
        this.rowLabels[r] = moved;
        this.rowOf.set(moved, r);
        this.data.copyWithin(r * dim, last * dim, (last + 1) * dim);
      }
    }
  }

  search(query: Float32Array, k: number, filter?: LabelFilter): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `FlatIndex.search: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    const kk = Math.min(Math.floor(k), this.n);
    if (!(kk > 0)) return [];
    return this.scan(query, kk, undefined, filter);
  }

  /** The top k of `labels` (present ones; others are skipped), scored like `search`: O(labels), not O(rows). */
  searchAmong(query: Float32Array, labels: ArrayLike<number>, k: number): ScoredLabel[] {
    if (query.length !== this.dim) {
      throw new RagError('INVALID_INPUT', `FlatIndex.searchAmong: query has dim ${query.length}, index has dim ${this.dim}`);
    }
    // the row list in the scratch, grown at most to the index's capacity (a longer list gets an array of its own)
    const scratch = !this.searching && labels.length <= this.rowLabels.length;
    if (scratch && this.rowsScratch.length < labels.length) this.rowsScratch = new Int32Array(this.rowLabels.length);
    const rows = scratch ? this.rowsScratch : new Int32Array(labels.length);
    let m = 0;
    for (let i = 0; i < labels.length; i++) {
      const r = this.rowOf.get(labels[i]);
      if (r !== undefined) rows[m++] = r;
    }
    // in row order, as `search` visits them, so equal scores come out the same way; a label given twice counts once
    rows.subarray(0, m).sort();
    let u = 0;
    for (let i = 0; i < m; i++) if (i === 0 || rows[i] !== rows[i - 1]) rows[u++] = rows[i];
    const kk = Math.min(Math.floor(k), u);
    if (!(kk > 0)) return [];
    return this.scan(query, kk, rows.subarray(0, u), undefined);
  }

  /** Scores every row (or the rows listed, ascending) that passes `filter`; the k best, best first. */
  private scan(query: Float32Array, kk: number, only: Int32Array | undefined, filter: LabelFilter | undefined): ScoredLabel[] {
    // a search from inside a filter's callback (the outer one is still using the scratch) gets buffers of its own
    if (this.searching) return this.scanWith(new Float32Array(this.dim), new TopK(kk), query, only, filter);
    this.searching = true;
    try {
      return this.scanWith(this.qScratch, this.heap.reset(kk), query, only, filter);
    } finally {
      this.searching = false;
    }
  }

  private scanWith(q: Float32Array, top: TopK, query: Float32Array, only: Int32Array | undefined, filter: LabelFilter | undefined): ScoredLabel[] {
    const dim = this.dim;
    // Normalise the query once (cosine); a zero query scores 0 everywhere.
    let qs = 0;
    for (let j = 0; j < dim; j++) qs += query[j] * query[j];
    if (qs > 0) {
      const inv = 1 / Math.sqrt(qs);
      for (let j = 0; j < dim; j++) q[j] = query[j] * inv;
    } else q.fill(0);
    const data = this.data;
    const rl = this.rowLabels;
    const tail = dim & ~3;
    const count = only === undefined ? this.n : only.length;
    for (let i = 0; i < count; i++) {
      const r = only === undefined ? i : only[i];
      const off = r * dim;
      const label = rl[r];
      if (filter !== undefined && !filter(label)) continue;
      // 4-way unrolled dot product: independent accumulators let the CPU overlap the multiply-adds.
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let j = 0;
      let p = off;
      for (; j < tail; j += 4, p += 4) {
        s0 += q[j] * data[p];
        s1 += q[j + 1] * data[p + 1];
        s2 += q[j + 2] * data[p + 2];
        s3 += q[j + 3] * data[p + 3];
      }
      for (; j < dim; j++, p++) s0 += q[j] * data[p];
      const score = s0 + s1 + s2 + s3;
      if (score > top.threshold) top.push(label, score);
    }
    return top.drain();
  }

  async save(file: string): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'ascii');
    header.writeUInt32LE(this.dim, 8);
    header.writeUInt32LE(this.n, 12);
    const labels = new Uint8Array(this.rowLabels.buffer, 0, this.n * 4);
    const matrix = new Uint8Array(this.data.buffer, 0, this.n * this.dim * 4);
    await writeAtomic(file, [header, labels, matrix]);
  }

  /** Replace this index's contents with the file's. The file's dim must equal this index's dim. */
  async load(file: string): Promise<void> {
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RagError('NOT_FOUND', `FlatIndex.load: no file ${file}`);
      throw err;
    }
    if (buf.length < HEADER_BYTES || buf.toString('ascii', 0, 8) !== MAGIC) {
      throw new RagError('CORRUPT', `FlatIndex.load: ${file} is not a flat index file (bad magic)`);
    }
    const dim = buf.readUInt32LE(8);
    const n = buf.readUInt32LE(12);
    if (dim !== this.dim) throw new RagError('INVALID_INPUT', `FlatIndex.load: ${file} has dim ${dim}, index has dim ${this.dim}`);
    const expected = HEADER_BYTES + n * 4 + n * dim * 4;
    if (buf.length !== expected) {
      throw new RagError('CORRUPT', `FlatIndex.load: ${file} is ${buf.length} bytes, expected ${expected} for ${n} × ${dim}`);
    }
    const cap = Math.max(1, n);
    const rl = new Int32Array(cap);
    new Uint8Array(rl.buffer).set(buf.subarray(HEADER_BYTES, HEADER_BYTES + n * 4));
    const data = new Float32Array(cap * dim);
    new Uint8Array(data.buffer).set(buf.subarray(HEADER_BYTES + n * 4));
    const rowOf = new Map<number, number>();
    for (let r = 0; r < n; r++) {
      if (rowOf.has(rl[r]) || rl[r] < 0) throw new RagError('CORRUPT', `FlatIndex.load: ${file} has a duplicate or negative label ${rl[r]}`);
      rowOf.set(rl[r], r);
    }
    this.rowLabels = rl;
    this.data = data;
    this.n = n;
    this.rowOf.clear();
    for (const [l, r] of rowOf) this.rowOf.set(l, r);
  }
}
