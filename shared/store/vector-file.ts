import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { RagError } from '../errors.ts';

/**
 * Full-precision vectors on disk, read one row at a time by offset: what a quantized index keeps out of memory and
 * reads back only for the few candidates it rescores (`rescore` in shared/index/quantize.ts takes `file.reader`).
 *
 * Rows are stored L2-normalised, as `FlatIndex` stores them (the same float32 values), so an exact score computed
 * from a row read here equals the flat index's score for it. Reads use `fs.readSync` at the row's offset straight
 * into the caller's Float32Array: nothing is allocated per read, and the operating system's page cache, not the
 * process heap, holds the recently read pages.
 *
 * Memory cost: none per row (a file descriptor and a counter). Disk: 16 + n × dim × 4 bytes.
 *
 * File format (little-endian):
 *
 *     0   "VECFILE1"  8 ASCII bytes
 *     8   u32 dim
 *     12  u32 count
 *     16  f32[count × dim]   normalised rows, row-major
 */

const MAGIC = 'VECFILE1';
const HEADER = 16;
/** Rows buffered per write. */
const WRITE_ROWS = 4096;

/** Writes `vectors` (normalised on the way) to `file`, replacing it. Streams in blocks: no n × dim copy in memory. */
export function writeVectorFile(file: string, vectors: ArrayLike<ArrayLike<number>>, dim: number): void {
  if (!Number.isInteger(dim) || dim <= 0) throw new RagError('INVALID_INPUT', `writeVectorFile: dim must be a positive integer, got ${dim}`);
  const fd = openSync(file, 'w');
  try {
    const header = Buffer.alloc(HEADER);
    header.write(MAGIC, 0, 'ascii');
    header.writeUInt32LE(dim, 8);
    header.writeUInt32LE(vectors.length, 12);
    writeSync(fd, header);
    const block = new Float32Array(WRITE_ROWS * dim);
    const bytes = new Uint8Array(block.buffer);
    for (let start = 0; start < vectors.length; start += WRITE_ROWS) {
      const end = Math.min(vectors.length, start + WRITE_ROWS);
      for (let i = start; i < end; i++) {
        const v = vectors[i];
        if (v.length !== dim) throw new RagError('INVALID_INPUT', `writeVectorFile: vector ${i} has dim ${v.length}, expected ${dim}`);
        let s = 0;
        for (let j = 0; j < dim; j++) s += v[j] * v[j];
        const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
        const off = (i - start) * dim;
        for (let j = 0; j < dim; j++) block[off + j] = v[j] * inv;
      }
      const len = (end - start) * dim * 4;
      for (let done = 0; done < len; ) done += writeSync(fd, bytes, done, len - done);
    }
  } finally {
    closeSync(fd);
  }
}

/** An open vector file: `read(row, out)` fills `out` with the row, `rowsRead` counts the reads. */
export class VectorFile {
  readonly file: string;
  readonly dim: number;
  readonly size: number;
  /** Rows read since opening (or since the last `resetCount`). */
  rowsRead = 0;
  private fd: number;
  /** The byte view of the last row buffer read into: a caller that reuses its buffer allocates nothing per read. */
  private lastOut?: Float32Array;
  private lastView?: Uint8Array;
  /** `read` bound to this file, to pass as a RowReader. */
  readonly reader: (row: number, out: Float32Array) => void;

  constructor(file: string) {
    this.file = file;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RagError('NOT_FOUND', `VectorFile: no file ${file}`);
      throw err;
    }
    const header = Buffer.alloc(HEADER);
    const got = readSync(fd, header, 0, HEADER, 0);
    if (got < HEADER || header.toString('ascii', 0, 8) !== MAGIC) {
      closeSync(fd);
      throw new RagError('CORRUPT', `VectorFile: ${file} is not a vector file (bad magic)`);
    }
    this.dim = header.readUInt32LE(8);
    this.size = header.readUInt32LE(12);
    const expected = HEADER + this.size * this.dim * 4;
    const actual = fstatSync(fd).size;
    if (actual !== expected) {
      closeSync(fd);
      throw new RagError('CORRUPT', `VectorFile: ${file} is ${actual} bytes, expected ${expected} for ${this.size} × ${this.dim}`);
    }
    this.fd = fd;
    this.reader = (row, out) => this.read(row, out);
  }

  /** Reads row `row` into `out` (length ≥ dim): one positioned read of dim × 4 bytes. */
  read(row: number, out: Float32Array): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.size) throw new RagError('INVALID_INPUT', `VectorFile.read: no row ${row} (size ${this.size})`);
    if (this.fd < 0) throw new RagError('INVALID_INPUT', `VectorFile.read: ${this.file} is closed`);
    const len = this.dim * 4;
    if (this.lastOut !== out) {
      this.lastOut = out;
      this.lastView = new Uint8Array(out.buffer, out.byteOffset, len);
    }
    const view = this.lastView!;
    const got = readSync(this.fd, view, 0, len, HEADER + row * len);
    if (got !== len) throw new RagError('CORRUPT', `VectorFile.read: row ${row} of ${this.file}: read ${got} of ${len} bytes`);
    this.rowsRead++;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
