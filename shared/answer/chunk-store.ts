import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import type { Chunk } from '../types.ts';

/**
 * The engine's chunks (text, ids, title, metadata) and their sentence rows (answer/sentence-table.ts), on disk and
 * read by offset: the text of a million chunks is about a gigabyte, far more than a hit needs in memory. A query reads
 * the records of its hits only (k short `pread`s from the page cache, a few µs each).
 *
 * - Base: one file, `chunks.bin` of a saved engine, held open (so a later save that replaces or deletes the folder
 *   does not pull it away). Per label in memory: the record's offset (float64) and length (uint32), 12 bytes.
 * - Tail: chunks added since the base was written, in memory (a Map) until the next `save` writes base and tail to a
 *   new file, which then becomes the base (`adopt`): the tail is bounded by the snapshot policy of the service.
 *
 * Record (little-endian, each starting on a 4-byte boundary):
 *
 *     u32 json bytes, u32 row words, UTF-8 JSON of the Chunk, zero padding to 4 bytes, int32 × row words
 *
 * The file starts with 8 bytes, "RCHUNK" + u16 format version (1); records follow back to back, in label order. The
 * labels, offsets and lengths are in a small index beside it (`encodeIndex`, `<file>.idx`), read whole on open.
 */

const MAGIC = Buffer.from('RCHUNK\x01\x00', 'latin1');
const IDX_MAGIC = Buffer.from('RCHIDX\x01\x00', 'latin1');
const HEAD = 8;

interface TailEntry {
  chunk: Chunk;
  row: Int32Array | undefined;
}

/** Closes a store's file once the store itself is garbage (an engine dropped without a close). */
const closer = new FinalizationRegistry<{ fd: number }>((h) => {
  try {
    closeSync(h.fd);
  } catch {
    // already closed
  }
});

export class ChunkStore {
  private fd: { fd: number } | undefined;
  private file: string | undefined;
  /** Base record of each label: offset (NaN: none) and byte length. */
  private offsets = new Float64Array(0);
  private lengths = new Uint32Array(0);
  private readonly tail = new Map<number, TailEntry>();
  private baseCount = 0;
  private scratch = Buffer.allocUnsafe(16 << 10);
  /** Records read from disk so far (tests and benches count them). */
  reads = 0;

  /** Live chunks (base and tail). */
  get size(): number {
    return this.baseCount + this.tail.size;
  }

  /** Chunks held in memory (added since the base was written). */
  get tailSize(): number {
    return this.tail.size;
  }

  has(label: number): boolean {
    return this.tail.has(label) || this.inBase(label);
  }

  private inBase(label: number): boolean {
    return label >= 0 && label < this.offsets.length && !Number.isNaN(this.offsets[label]);
  }

  /** Stores a chunk (and its sentence row) under `label`, in memory until the next save. */
  set(label: number, chunk: Chunk, row?: Int32Array): void {
    this.drop(label);
    this.tail.set(label, { chunk, row });
  }

  /** Sets the sentence row of a chunk held in the tail (no-op for one on disk). */
  setRow(label: number, row: Int32Array): void {
    const e = this.tail.get(label);
    if (e !== undefined) e.row = row;
  }

  /** Forgets a label. */
  delete(label: number): void {
    this.drop(label);
  }

  private drop(label: number): void {
    this.tail.delete(label);
    if (this.inBase(label)) {
      this.offsets[label] = NaN;
      this.baseCount--;
    }
  }

  /** The chunk under `label` (read from disk when it is in the base), or undefined. */
  get(label: number): Chunk | undefined {
    const e = this.tail.get(label);
    if (e !== undefined) return e.chunk;
    if (!this.inBase(label)) return undefined;
    const buf = this.read(label);
    const jsonBytes = buf.readUInt32LE(0);
    return JSON.parse(buf.toString('utf8', 8, 8 + jsonBytes)) as Chunk;
  }

  /** The sentence row of `label`, or undefined when none was stored. */
  row(label: number): Int32Array | undefined {
    const e = this.tail.get(label);
    if (e !== undefined) return e.row;
    if (!this.inBase(label)) return undefined;
    const buf = this.read(label);
    const jsonBytes = buf.readUInt32LE(0);
    const words = buf.readUInt32LE(4);
    if (words === 0) return undefined;
    const at = align4(8 + jsonBytes);
    const row = new Int32Array(words);
    new Uint8Array(row.buffer).set(buf.subarray(at, at + 4 * words));
    return row;
  }

  /** The record bytes of a base label, in the scratch buffer (valid until the next read). */
  private read(label: number): Buffer {
    const len = this.lengths[label];
    if (len > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(len, this.scratch.length * 2));
    const got = readSync(this.fd!.fd, this.scratch, 0, len, this.offsets[label]);
    if (got !== len) throw new RagError('CORRUPT', `${this.file}: record of label ${label} is truncated (${got} of ${len} bytes)`);
    this.reads++;
    return this.scratch.subarray(0, len);
  }

  /** Live labels, ascending. */
  labels(): number[] {
    const out: number[] = [];
    for (let l = 0; l < this.offsets.length; l++) if (!Number.isNaN(this.offsets[l])) out.push(l);
    for (const l of this.tail.keys()) out.push(l);
    return out.sort((a, b) => a - b);
  }

  /**
   * Writes every live chunk to `file` in label order: base records copied as bytes, tail ones encoded. Returns what
   * `adopt` needs to read from the new file. Synchronous reads of the old file, buffered async writes.
   */
  async write(file: string): Promise<WrittenStore> {
    const labels = this.labels();
    const cap = labels.length > 0 ? labels[labels.length - 1] + 1 : 0;
    const offsets = new Float64Array(cap).fill(NaN);
    const lengths = new Uint32Array(cap);
    const fh = await open(file, 'w');
    const written = new Map<number, TailEntry>();
    try {
      let pos = 0;
      let buf = Buffer.allocUnsafe(1 << 20);
      let used = 0;
      const flush = async () => {
        for (let off = 0; off < used; ) {
          const { bytesWritten } = await fh.write(buf, off, used - off);
          off += bytesWritten;
        }
        used = 0;
      };
      const put = async (bytes: Uint8Array) => {
        if (used + bytes.length > buf.length) await flush();
        if (bytes.length > buf.length) buf = Buffer.allocUnsafe(bytes.length * 2);
        buf.set(bytes, used);
        used += bytes.length;
        pos += bytes.length;
      };
      await put(MAGIC);
      for (const l of labels) {
        const e = this.tail.get(l);
        let rec: Uint8Array;
        if (e !== undefined) {
          rec = encodeRecord(e.chunk, e.row);
          written.set(l, e);
        } else rec = this.read(l);
        offsets[l] = pos;
        lengths[l] = rec.length;
        await put(rec);
      }
      await flush();
    } finally {
      await fh.close();
    }
    return { file, offsets, lengths, written };
  }

  /**
   * Reads from `w.file` from now on (written by `write`, possibly moved since: `file` is where it is now). Labels
   * deleted or replaced since the write keep their current state; tail entries written there leave memory.
   */
  adopt(w: WrittenStore, file = w.file): void {
    const fd = { fd: openSync(file, 'r') };
    const cap = Math.max(w.offsets.length, this.offsets.length);
    const offsets = new Float64Array(cap).fill(NaN);
    const lengths = new Uint32Array(cap);
    let count = 0;
    for (let l = 0; l < w.offsets.length; l++) {
      if (Number.isNaN(w.offsets[l])) continue;
      const e = this.tail.get(l);
      const stillSame = e !== undefined ? w.written.get(l) === e : this.inBase(l);
      if (!stillSame) continue;
      offsets[l] = w.offsets[l];
      lengths[l] = w.lengths[l];
      count++;
      if (e !== undefined) this.tail.delete(l);
    }
    // labels in the tail that the write did not hold (or that changed since) stay in the tail
    this.closeFile();
    this.fd = fd;
    this.file = file;
    closer.register(this, fd, this);
    this.offsets = offsets;
    this.lengths = lengths;
    this.baseCount = count;
  }

  /**
   * Opens a saved store: `file` (records) and its index `file + '.idx'` (labels, offsets, lengths, written by
   * `writeIndex`), checked against each other.
   */
  static async open(file: string): Promise<ChunkStore> {
    const idx = await readFile(`${file}.idx`);
    const corrupt = (why: string): never => {
      throw new RagError('CORRUPT', `${file}.idx: ${why}`);
    };
    if (idx.length < 16 || !idx.subarray(0, 8).equals(IDX_MAGIC)) corrupt('not a chunk store index (format 1)');
    const n = idx.readUInt32LE(8);
    if (idx.length !== 16 + 16 * n) corrupt(`${idx.length} bytes, expected ${16 + 16 * n} for ${n} records`);
    const copy = <T>(Ctor: { new (b: ArrayBuffer): T }, at: number, bytes: number): T => {
      const own = new ArrayBuffer(bytes);
      new Uint8Array(own).set(idx.subarray(at, at + bytes));
      return new Ctor(own);
    };
    const offsets = copy(Float64Array, 16, 8 * n);
    const labels = copy(Int32Array, 16 + 8 * n, 4 * n);
    const lengths = copy(Uint32Array, 16 + 12 * n, 4 * n);
    const fd = openSync(file, 'r');
    const store = new ChunkStore();
    store.fd = { fd };
    store.file = file;
    closer.register(store, store.fd, store);
    const head = Buffer.alloc(HEAD);
    if (readSync(fd, head, 0, HEAD, 0) !== HEAD || !head.equals(MAGIC)) {
      store.close();
      throw new RagError('CORRUPT', `${file}: not a chunk store (format 1)`);
    }
    let cap = 0;
    for (let i = 0; i < n; i++) {
      const l = labels[i];
      if (!(l >= 0) || (i > 0 && l <= labels[i - 1])) {
        store.close();
        corrupt(`labels not ascending at record ${i}`);
      }
      cap = l + 1;
    }
    store.offsets = new Float64Array(cap).fill(NaN);
    store.lengths = new Uint32Array(cap);
    for (let i = 0; i < n; i++) {
      store.offsets[labels[i]] = offsets[i];
      store.lengths[labels[i]] = lengths[i];
    }
    store.baseCount = n;
    return store;
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    closer.unregister(this);
    try {
      closeSync(this.fd.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }

  /** Closes the base file (the store keeps its tail; base records can no longer be read). */
  close(): void {
    this.closeFile();
  }

  memory(): { part: string; bytes: number; how: string }[] {
    let tailText = 0;
    let tailRows = 0;
    for (const e of this.tail.values()) {
      tailText += e.chunk.text.length;
      tailRows += e.row?.byteLength ?? 0;
    }
    return [
      { part: 'record offsets', bytes: this.offsets.byteLength + this.lengths.byteLength, how: `${this.baseCount} chunks on disk (${this.file ?? 'none'}): float64 offset + uint32 length per label` },
      { part: 'in memory (since the last save)', bytes: tailText + tailRows, how: `${this.tail.size} chunks: text characters + sentence rows (+ the objects)` },
    ];
  }
}

export interface WrittenStore {
  file: string;
  offsets: Float64Array;
  lengths: Uint32Array;
  written: Map<number, TailEntry>;
}

/**
 * The index of a written store, `file + '.idx'`: "RCHIDX" + u16 version, u32 count, u32 0, then float64 offsets,
 * int32 labels (ascending) and uint32 lengths, count of each.
 */
export function encodeIndex(w: WrittenStore): Uint8Array {
  let n = 0;
  for (let l = 0; l < w.offsets.length; l++) if (!Number.isNaN(w.offsets[l])) n++;
  const out = Buffer.alloc(16 + 16 * n);
  IDX_MAGIC.copy(out, 0);
  out.writeUInt32LE(n, 8);
  const offsets = new Float64Array(out.buffer, out.byteOffset + 16, n);
  const labels = new Int32Array(out.buffer, out.byteOffset + 16 + 8 * n, n);
  const lengths = new Uint32Array(out.buffer, out.byteOffset + 16 + 12 * n, n);
  let i = 0;
  for (let l = 0; l < w.offsets.length; l++) {
    if (Number.isNaN(w.offsets[l])) continue;
    offsets[i] = w.offsets[l];
    labels[i] = l;
    lengths[i] = w.lengths[l];
    i++;
  }
  return out;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** One record's bytes (see the class comment). */
export function encodeRecord(chunk: Chunk, row: Int32Array | undefined): Uint8Array {
  const json = Buffer.from(JSON.stringify(chunk), 'utf8');
  const words = row?.length ?? 0;
  const at = align4(8 + json.length);
  const out = Buffer.alloc(at + 4 * words);
  out.writeUInt32LE(json.length, 0);
  out.writeUInt32LE(words, 4);
  json.copy(out, 8);
  if (row !== undefined) out.set(new Uint8Array(row.buffer, row.byteOffset, row.byteLength), at);
  return out;
}
