import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliDecompress, inflateRaw } from 'node:zlib';
import { RagError } from '../errors.ts';
import { blockOf, packBlocks, textInBlock, type BlockCodec, type BlockLayout, type BlockOptions } from './blocks.ts';
import { BufferPool } from './buffer-pool.ts';

/**
 * Chunk texts compressed in blocks (shared/store/blocks.ts) in one file, each block read by offset: the cold tier of
 * `TieredTextStore`, or a compact text store of its own. Memory: the layout tables only (4 bytes a text, 12 a block);
 * a read costs one positioned read of the block's compressed bytes (about a third of `blockBytes` for English
 * prose) and one decompression, both off the main thread (libuv's pool), with read buffers from a pool.
 *
 * File format (little-endian), written to `<file>.tmp` and renamed into place:
 *
 *     0   "TXTBLK01"   8 ASCII bytes
 *     8   u32 codec    0 brotli, 1 deflate (raw)
 *     12  u32 texts    n
 *     16  u32 blocks   b
 *     20  u32 0
 *     24  f64 tables   offset of the tables
 *     32  blocks, back to back
 *     tables: u32 firstText[b + 1], u32 ends[n], f64 blockStarts[b + 1] (relative to offset 32)
 */

const MAGIC = 'TXTBLK01';
const HEADER = 32;
const inflateRawAsync = promisify(inflateRaw);
const brotliDecompressAsync = promisify(brotliDecompress);

/** Writes `texts` as a block file at `file` (replacing it). Returns the layout and the compressed size. */
export function writeBlockFile(file: string, texts: ArrayLike<string>, opts: BlockOptions = {}): { blocks: number; rawBytes: number; fileBytes: number } {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let pos = HEADER;
    const packed = packBlocks(texts, opts, (block) => {
      for (let done = 0; done < block.length; ) done += writeSync(fd, block, done, block.length - done, pos + done);
      pos += block.length;
    });
    const b = packed.blockStarts.length - 1;
    const tables = Buffer.concat([
      Buffer.from(packed.firstText.buffer, packed.firstText.byteOffset, packed.firstText.byteLength),
      Buffer.from(packed.ends.buffer, packed.ends.byteOffset, packed.ends.byteLength),
      Buffer.from(packed.blockStarts.buffer, packed.blockStarts.byteOffset, packed.blockStarts.byteLength),
    ]);
    const header = Buffer.alloc(HEADER);
    header.write(MAGIC, 0, 'ascii');
    header.writeUInt32LE(packed.codec === 'brotli' ? 0 : 1, 8);
    header.writeUInt32LE(texts.length, 12);
    header.writeUInt32LE(b, 16);
    header.writeDoubleLE(pos, 24);
    writeSync(fd, tables, 0, tables.length, pos);
    writeSync(fd, header, 0, HEADER, 0);
    closeSync(fd);
    renameSync(tmp, file);
    return { blocks: b, rawBytes: packed.rawBytes, fileBytes: pos + tables.length };
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** An open block file. */
export class BlockFile {
  readonly file: string;
  readonly size: number;
  /** Reads so far (one block each). */
  reads = 0;
  /** Compressed bytes read from the file. */
  bytesRead = 0;
  /** Bytes those reads decompressed to. */
  bytesDecompressed = 0;
  private readonly fh: FileHandle;
  private readonly layout: BlockLayout & { blockStarts: Float64Array };
  private readonly pool = new BufferPool();

  private constructor(file: string, fh: FileHandle, layout: BlockLayout & { blockStarts: Float64Array }) {
    this.file = file;
    this.fh = fh;
    this.layout = layout;
    this.size = layout.ends.length;
  }

  static async open(file: string): Promise<BlockFile> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RagError('NOT_FOUND', `BlockFile: no file ${file}`);
      throw err;
    }
    try {
      const header = Buffer.alloc(HEADER);
      const { bytesRead } = await fh.read(header, 0, HEADER, 0);
      if (bytesRead < HEADER || header.toString('ascii', 0, 8) !== MAGIC) throw new RagError('CORRUPT', `BlockFile: ${file} is not a block file (bad magic)`);
      const codecId = header.readUInt32LE(8);
      if (codecId > 1) throw new RagError('CORRUPT', `BlockFile: ${file} has unknown codec ${codecId}`);
      const n = header.readUInt32LE(12);
      const b = header.readUInt32LE(16);
      const tablesAt = header.readDoubleLE(24);
      const tableBytes = 4 * (b + 1) + 4 * n + 8 * (b + 1);
      const { size } = await fh.stat();
      if (size !== tablesAt + tableBytes) throw new RagError('CORRUPT', `BlockFile: ${file} is ${size} bytes, expected ${tablesAt + tableBytes}`);
      const tables = Buffer.allocUnsafeSlow(tableBytes);
      await fh.read(tables, 0, tableBytes, tablesAt);
      const firstText = new Uint32Array(b + 1);
      const ends = new Uint32Array(n);
      const blockStarts = new Float64Array(b + 1);
      new Uint8Array(firstText.buffer).set(tables.subarray(0, 4 * (b + 1)));
      new Uint8Array(ends.buffer).set(tables.subarray(4 * (b + 1), 4 * (b + 1) + 4 * n));
      new Uint8Array(blockStarts.buffer).set(tables.subarray(4 * (b + 1) + 4 * n));
      if (firstText[b] !== n || blockStarts[b] !== tablesAt - HEADER) throw new RagError('CORRUPT', `BlockFile: ${file} has inconsistent tables`);
      const codec: BlockCodec = codecId === 0 ? 'brotli' : 'deflate';
      return new BlockFile(file, fh, { codec, firstText, ends, blockStarts });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Memory the open file holds: its tables and idle read buffers. */
  get memoryBytes(): number {
    const l = this.layout;
    return l.firstText.byteLength + l.ends.byteLength + l.blockStarts.byteLength + this.pool.idleBytes;
  }

  /** Text `i`: one positioned read of its block, one decompression. */
  async read(i: number): Promise<string> {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RagError('INVALID_INPUT', `BlockFile.read: no text ${i} (size ${this.size})`);
    const l = this.layout;
    const b = blockOf(l, i);
    const start = l.blockStarts[b];
    const len = l.blockStarts[b + 1] - start;
    const buf = this.pool.acquire(len);
    try {
      const { bytesRead } = await this.fh.read(buf, 0, len, HEADER + start);
      if (bytesRead !== len) throw new RagError('CORRUPT', `BlockFile.read: block ${b} of ${this.file}: read ${bytesRead} of ${len} bytes`);
      const block = buf.subarray(0, len);
      const raw = l.codec === 'brotli' ? await brotliDecompressAsync(block) : await inflateRawAsync(block);
      this.reads++;
      this.bytesRead += len;
      this.bytesDecompressed += raw.length;
      return textInBlock(l, b, raw, i);
    } finally {
      this.pool.release(buf);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
