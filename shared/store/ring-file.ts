import { rm } from 'node:fs/promises';
import { open, type FileHandle } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import { BufferPool } from './buffer-pool.ts';

/**
 * Where reads get their buffers: `acquire` hands out a buffer of at least `size` bytes for one read, `release` takes
 * it back once the read is decoded. `BufferPool` (the default, one per ring) gives each read in flight its own.
 */
export interface ReadBuffers {
  acquire(size: number): Buffer;
  release(b: Buffer): void;
}

export interface RingFileOptions {
  /** Buffers for reads (not writes). Default: a `BufferPool` of the ring's own. */
  readBuffers?: ReadBuffers;
}

/**
 * A bounded cache of texts in one file on local disk, read by offset: the warm tier of `TieredTextStore`.
 *
 * Texts are appended one after another; when the next one does not fit before the end, writing wraps to the start,
 * and whatever it overwrites is evicted: first in, first out, in file order, like a ring. The file never exceeds
 * `maxBytes`. A read is one positioned read of exactly the text's bytes into a pooled buffer (one buffer per read in
 * flight, reused), decoded to a string.
 *
 * Concurrency: a text is readable once its write has completed (a read of one still being written waits for it), and
 * a read whose bytes were overwritten while it was in flight returns undefined instead of someone else's bytes.
 *
 * Memory: the index is parallel typed arrays over the write sequence (id, offset, length, live: 17 bytes a slot; the
 * slots grow by doubling to hold the entries in the ring, replaced ones included until the head passes them) and one
 * Map entry per text held; plus up to 8 idle read buffers. The measured figure is in
 * t2_memory_storage_optimization/10-tiered-storage/README.md.
 */
export class RingFile {
  readonly file: string;
  readonly maxBytes: number;
  reads = 0;
  writes = 0;
  bytesRead = 0;
  bytesWritten = 0;
  private readonly fh: FileHandle;
  /** id → sequence number of its entry (entries are numbered in write order). */
  private readonly seqOf = new Map<number, number>();
  /** Entries [headSeq, tailSeq) are in the ring; entry `seq` lives in slot `seq & mask`. */
  private headSeq = 0;
  private tailSeq = 0;
  private mask = 255;
  private ids = new Int32Array(256);
  private offsets = new Float64Array(256);
  private lengths = new Uint32Array(256);
  private alive = new Uint8Array(256);
  /** Where the next text is written. */
  private tail = 0;
  private live = 0;
  /** Writes in flight, by sequence number. */
  private readonly writing = new Map<number, Promise<void>>();
  /** Buffers for writes in flight; reads use `readBuffers`. */
  private readonly pool = new BufferPool(4096);
  private readonly readBuffers: ReadBuffers;

  private constructor(file: string, maxBytes: number, fh: FileHandle, opts: RingFileOptions) {
    this.file = file;
    this.maxBytes = maxBytes;
    this.fh = fh;
    this.readBuffers = opts.readBuffers ?? new BufferPool(4096);
  }

  /** Creates (or truncates) `file` as an empty ring of at most `maxBytes`. */
  static async open(file: string, maxBytes: number, opts: RingFileOptions = {}): Promise<RingFile> {
    if (!(Number.isInteger(maxBytes) && maxBytes >= 0)) throw new RagError('INVALID_INPUT', `RingFile: maxBytes must be an integer ≥ 0, got ${maxBytes}`);
    return new RingFile(file, maxBytes, await open(file, 'w+'), opts);
  }

  /** Texts held. */
  get size(): number {
    return this.seqOf.size;
  }

  /** Bytes of the live texts in the file. */
  get bytes(): number {
    return this.live;
  }

  has(id: number): boolean {
    return this.seqOf.has(id);
  }

  private isLive(seq: number): boolean {
    return seq >= this.headSeq && this.alive[seq & this.mask] === 1;
  }

  /** Text `id`, or undefined when it is not held (or was overwritten while being read). */
  async get(id: number): Promise<string | undefined> {
    const seq = this.seqOf.get(id);
    if (seq === undefined) return undefined;
    const pending = this.writing.get(seq);
    if (pending) await pending;
    if (!this.isLive(seq)) return undefined;
    const slot = seq & this.mask;
    const length = this.lengths[slot];
    const offset = this.offsets[slot];
    const buf = this.readBuffers.acquire(length);
    try {
      const { bytesRead } = await this.fh.read(buf, 0, length, offset);
      if (!this.isLive(seq)) return undefined; // overwritten while we read: the bytes may be another text's
      if (bytesRead !== length) throw new RagError('CORRUPT', `RingFile.get: text ${id}: read ${bytesRead} of ${length} bytes`);
      this.reads++;
      this.bytesRead += bytesRead;
      return buf.toString('utf8', 0, length);
    } finally {
      this.readBuffers.release(buf);
    }
  }

  /**
   * Appends text `id` (replacing an older copy), evicting what its bytes overwrite. Readable once the returned
   * promise resolves (a `get` before then waits for it). An empty text, or one longer than the whole ring, is not
   * kept.
   */
  put(id: number, text: string): Promise<void> {
    const old = this.seqOf.get(id);
    if (old !== undefined) this.kill(old);
    const length = Buffer.byteLength(text, 'utf8');
    if (length > this.maxBytes || length === 0) return Promise.resolve(); // nothing worth a read
    if (this.tail + length > this.maxBytes) {
      // wrap: the entries left between the tail and the end are the oldest; drop them, then write from the start
      while (this.headSeq < this.tailSeq && this.offsets[this.headSeq & this.mask] >= this.tail) this.dropHead();
      this.tail = 0;
    }
    const end = this.tail + length;
    while (this.headSeq < this.tailSeq) {
      const h = this.headSeq & this.mask;
      const overlaps = this.offsets[h] < end && this.offsets[h] + this.lengths[h] > this.tail;
      if (this.alive[h] === 1 && !overlaps) break;
      this.dropHead();
    }
    if (this.tailSeq - this.headSeq > this.mask) this.grow();
    const seq = this.tailSeq++;
    const slot = seq & this.mask;
    this.ids[slot] = id;
    this.offsets[slot] = this.tail;
    this.lengths[slot] = length;
    this.alive[slot] = 1;
    this.seqOf.set(id, seq);
    this.live += length;
    const at = this.tail;
    this.tail = end;
    const buf = this.pool.acquire(length);
    buf.write(text, 0, length, 'utf8');
    const write = (async () => {
      try {
        for (let done = 0; done < length; ) {
          const { bytesWritten } = await this.fh.write(buf, done, length - done, at + done);
          done += bytesWritten;
        }
        this.writes++;
        this.bytesWritten += length;
      } catch (err) {
        this.kill(seq);
        throw err;
      } finally {
        this.pool.release(buf);
        this.writing.delete(seq);
      }
    })();
    this.writing.set(seq, write.catch(() => undefined));
    return write;
  }

  /** Marks entry `seq` dead (it stays in the ring until the head passes it). */
  private kill(seq: number): void {
    if (!this.isLive(seq)) return;
    const slot = seq & this.mask;
    this.alive[slot] = 0;
    this.live -= this.lengths[slot];
    if (this.seqOf.get(this.ids[slot]) === seq) this.seqOf.delete(this.ids[slot]);
  }

  private dropHead(): void {
    this.kill(this.headSeq);
    this.headSeq++;
  }

  /** Doubles the slot arrays, keeping every entry at `seq & mask` under the new mask. */
  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const mask = cap - 1;
    const ids = new Int32Array(cap);
    const offsets = new Float64Array(cap);
    const lengths = new Uint32Array(cap);
    const alive = new Uint8Array(cap);
    for (let seq = this.headSeq; seq < this.tailSeq; seq++) {
      const from = seq & this.mask;
      const to = seq & mask;
      ids[to] = this.ids[from];
      offsets[to] = this.offsets[from];
      lengths[to] = this.lengths[from];
      alive[to] = this.alive[from];
    }
    this.ids = ids;
    this.offsets = offsets;
    this.lengths = lengths;
    this.alive = alive;
    this.mask = mask;
  }

  /** Waits for writes in flight, closes the file and, with `remove`, deletes it. */
  async close(remove = false): Promise<void> {
    await Promise.all([...this.writing.values()]);
    await this.fh.close();
    if (remove) await rm(this.file, { force: true });
  }
}
