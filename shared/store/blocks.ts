import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { RagError } from '../errors.ts';

/**
 * Chunk texts compressed in blocks: consecutive texts are concatenated (UTF-8) until a block holds `blockBytes` of
 * text, and each block is compressed on its own. A read decompresses one block (at most about `blockBytes`, or one
 * text when a single text is larger) and slices the text out.
 *
 * Why blocks: compressing each ~1 KB chunk alone leaves the compressor no context (Brown chunks: brotli keeps 50% of
 * the bytes, gzip 54%), while one stream over everything compresses best but costs a read the whole corpus. A block
 * of a few dozen chunks gets close to the best ratio and bounds what a read decompresses; the figures are in
 * t2_memory_storage_optimization/09-compression/README.md.
 *
 * Memory beyond the compressed blocks: 4 bytes per text (its end offset within its block), 12 bytes per block (its
 * first text and where it starts), and the last block decompressed (kept, so texts read in order decompress each
 * block once).
 * `TextBlocks` holds the blocks in memory; `writeBlockFile` / `BlockFile` (shared/store/block-file.ts) keep them on
 * disk and read one by offset.
 *
 * Node 20's zlib has brotli and deflate/gzip; zstd arrives in Node 22.15 / 23.8 (`zlib.zstdCompressSync`) and is not
 * used here.
 */

export type BlockCodec = 'brotli' | 'deflate';

export interface BlockOptions {
  /** Uncompressed bytes of text per block (a block closes once it reaches this). Default 32 KiB. */
  blockBytes?: number;
  /** Default 'brotli'. */
  codec?: BlockCodec;
  /** Compression level: brotli 0–11 (default 5), deflate 0–9 (default 6). Decompression speed does not depend on it. */
  level?: number;
}

export const DEFAULT_BLOCK_BYTES = 32 * 1024;

/** The layout of packed texts: which texts each block holds and where each text ends inside its block. */
export interface BlockLayout {
  readonly codec: BlockCodec;
  /** Block b holds texts firstText[b] .. firstText[b + 1] − 1. Length blocks + 1. */
  readonly firstText: Uint32Array;
  /** Byte offset (in its block's uncompressed bytes) where text i ends; it starts where text i − 1 ends, or at 0. */
  readonly ends: Uint32Array;
}

export interface PackedBlocks extends BlockLayout {
  /** Block b is `data[blockStarts[b] .. blockStarts[b + 1])`. Length blocks + 1. */
  readonly blockStarts: Float64Array;
  /**
   * Every compressed block, back to back, in one buffer of exactly their size (absent when `packBlocks` handed the
   * blocks to `onBlock`). One allocation instead of a Buffer per block: zlib returns each output as a view into a
   * larger chunk, and a kept view keeps the whole chunk.
   */
  readonly data?: Buffer;
  /** UTF-8 bytes of all texts. */
  readonly rawBytes: number;
}

function checkOptions(opts: BlockOptions): Required<BlockOptions> {
  const blockBytes = opts.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (!Number.isInteger(blockBytes) || blockBytes <= 0) throw new RagError('INVALID_INPUT', `blockBytes must be a positive integer, got ${blockBytes}`);
  const codec = opts.codec ?? 'brotli';
  if (codec !== 'brotli' && codec !== 'deflate') throw new RagError('INVALID_INPUT', `codec must be 'brotli' or 'deflate', got ${String(codec)}`);
  const level = opts.level ?? (codec === 'brotli' ? 5 : 6);
  return { blockBytes, codec, level };
}

/** Compresses one block's bytes. */
export function compressBlock(raw: Uint8Array, codec: BlockCodec, level: number): Buffer {
  if (codec === 'deflate') return deflateRawSync(raw, { level });
  return brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: level,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      // a window just large enough for the block (brotli's default is 4 MiB): the decoder allocates its ring buffer
      // from the window size, so a small block should not ask for a big one
      [constants.BROTLI_PARAM_LGWIN]: Math.max(16, Math.min(24, Math.ceil(Math.log2(Math.max(2, raw.length))))),
    },
  });
}

/** Decompresses one block. */
export function decompressBlock(block: Uint8Array, codec: BlockCodec): Buffer {
  return codec === 'deflate' ? inflateRawSync(block) : brotliDecompressSync(block);
}

/**
 * Packs `texts` into compressed blocks (streaming: one block's raw bytes at a time). With `onBlock`, each compressed
 * block is handed over as it is made (for writing a file) and `data` is left out.
 */
export function packBlocks(texts: ArrayLike<string>, opts: BlockOptions = {}, onBlock?: (block: Buffer) => void): PackedBlocks {
  const { blockBytes, codec, level } = checkOptions(opts);
  const n = texts.length;
  const ends = new Uint32Array(n);
  const firsts: number[] = [];
  const starts: number[] = [0];
  const blocks: Buffer[] = [];
  let parts: Buffer[] = [];
  let used = 0;
  let rawBytes = 0;
  let compressed = 0;
  const flush = () => {
    if (parts.length === 0) return;
    const block = compressBlock(parts.length === 1 ? parts[0] : Buffer.concat(parts, used), codec, level);
    compressed += block.length;
    starts.push(compressed);
    if (onBlock) onBlock(block);
    else blocks.push(block);
    parts = [];
    used = 0;
  };
  for (let i = 0; i < n; i++) {
    const t = texts[i];
    if (typeof t !== 'string') throw new RagError('INVALID_INPUT', `packBlocks: text ${i} is not a string`);
    const bytes = Buffer.from(t, 'utf8');
    if (parts.length === 0) firsts.push(i);
    parts.push(bytes);
    used += bytes.length;
    rawBytes += bytes.length;
    ends[i] = used;
    if (used >= blockBytes) flush();
  }
  flush();
  const firstText = new Uint32Array(firsts.length + 1);
  firstText.set(firsts);
  firstText[firsts.length] = n;
  const blockStarts = Float64Array.from(starts);
  if (onBlock) return { codec, firstText, ends, blockStarts, rawBytes };
  const data = Buffer.allocUnsafeSlow(compressed);
  blocks.forEach((b, i) => b.copy(data, blockStarts[i]));
  return { codec, firstText, ends, blockStarts, data, rawBytes };
}

/** The block that holds text `i` (binary search over firstText). */
export function blockOf(layout: BlockLayout, i: number): number {
  const f = layout.firstText;
  let lo = 0;
  let hi = f.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (f[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Text `i` sliced out of its block's decompressed bytes. */
export function textInBlock(layout: BlockLayout, block: number, raw: Buffer, i: number): string {
  const start = i === layout.firstText[block] ? 0 : layout.ends[i - 1];
  return raw.toString('utf8', start, layout.ends[i]);
}

/** Texts compressed in blocks, in memory. */
export class TextBlocks {
  readonly size: number;
  readonly rawBytes: number;
  /** Blocks decompressed so far (a read of the block decompressed last costs none). */
  decompressions = 0;
  /** Uncompressed bytes produced by those decompressions. */
  bytesDecompressed = 0;
  private readonly packed: PackedBlocks;
  private lastBlock = -1;
  private lastRaw: Buffer | undefined;

  constructor(texts: ArrayLike<string>, opts: BlockOptions = {}) {
    this.packed = packBlocks(texts, opts);
    this.size = texts.length;
    this.rawBytes = this.packed.rawBytes;
  }

  /** Number of blocks. */
  get blocks(): number {
    return this.packed.blockStarts.length - 1;
  }

  /** Bytes held: the compressed blocks and the tables (not counting the one decompressed block kept). */
  get bytes(): number {
    const p = this.packed;
    return p.data!.length + p.ends.byteLength + p.firstText.byteLength + p.blockStarts.byteLength;
  }

  get(i: number): string {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RagError('INVALID_INPUT', `TextBlocks.get: no text ${i} (size ${this.size})`);
    const b = blockOf(this.packed, i);
    if (b !== this.lastBlock || this.lastRaw === undefined) {
      const p = this.packed;
      this.lastRaw = decompressBlock(p.data!.subarray(p.blockStarts[b], p.blockStarts[b + 1]), p.codec);
      this.lastBlock = b;
      this.decompressions++;
      this.bytesDecompressed += this.lastRaw.length;
    }
    return textInBlock(this.packed, b, this.lastRaw, i);
  }
}
