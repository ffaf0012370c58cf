/**
 * The steps between before and after, each a VectorStore of its own, so the benchmark shows what each one buys:
 *
 * - `buildF16`: half precision (IEEE binary16, 2 bytes a dimension) scanned directly, no rescoring;
 * - `buildInt8Only`: after.ts's int8 codes, scores taken from the codes (no rescoring: estimates, not cosines);
 * - `buildBinary(depth)`: one bit a dimension (16 bytes a 100-d vector), then exact rescoring of `depth × k`
 *   candidates from the vector file.
 *
 * And the text layouts the benchmark compares with after.ts's blocks: one compressed stream per text (gzip or
 * brotli), and the whole corpus as one stream.
 */
import { gzipSync, gunzipSync } from 'node:zlib';
import { RagError } from '../../shared/errors.ts';
import { BinaryVectors, Int8Quantizer, Int8Vectors, normalizeInto, rescore } from '../../shared/index/quantize.ts';
import { compressBlock, decompressBlock, TextBlocks } from '../../shared/store/blocks.ts';
import { TopK } from '../../shared/util/topk.ts';
import type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

function check(store: { dim: number }, query: Float32Array, k: number): void {
  if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
  if (query.length !== store.dim) throw new RagError('INVALID_INPUT', `search: query has dim ${query.length}, index has dim ${store.dim}`);
}

// ---- half precision -------------------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits nearest to `x` (round half to even; overflow to ±Infinity). */
export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 112; // rebias 127 → 15
  let m = b & 0x7fffff;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Every binary16 value as a float (65,536 entries), so decoding is one lookup. */
export const HALF_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

class F16Index implements VectorStore {
  readonly size: number;
  readonly dim: number;
  private readonly codes: Uint16Array;
  private readonly q: Float64Array;

  constructor(vectors: Float32Array[], dim: number) {
    this.size = vectors.length;
    this.dim = dim;
    this.codes = new Uint16Array(vectors.length * dim);
    const unit = new Float64Array(dim);
    vectors.forEach((v, i) => {
      normalizeInto(v, unit);
      for (let j = 0; j < dim; j++) this.codes[i * dim + j] = toHalf(unit[j]);
    });
    this.q = new Float64Array(dim);
  }

  search(query: Float32Array, k: number): ScoredLabel[] {
    check(this, query, k);
    if (this.size === 0) return [];
    const { dim, codes, q } = this;
    normalizeInto(query, q);
    const top = new TopK(Math.min(k, this.size));
    for (let i = 0, off = 0; i < this.size; i++, off += dim) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j] * HALF_TABLE[codes[off + j]];
      if (s > top.threshold) top.push(i, s);
    }
    return top.drain();
  }
}

export function buildF16(vectors: Float32Array[], full: FullRows): VectorStore {
  return new F16Index(vectors, vectors.length > 0 ? vectors[0].length : full.dim);
}

// ---- int8 without rescoring -----------------------------------------------------------------------------------

export function buildInt8Only(vectors: Float32Array[], full: FullRows): VectorStore {
  const dim = vectors.length > 0 ? vectors[0].length : full.dim;
  const codes = new Int8Vectors(Int8Quantizer.fit(vectors, dim), Math.max(1, vectors.length));
  for (const v of vectors) codes.add(v);
  return {
    size: codes.size,
    dim,
    search(query: Float32Array, k: number): ScoredLabel[] {
      check(this, query, k);
      return codes.search(query, k);
    },
  };
}

// ---- binary codes, rescored ------------------------------------------------------------------------------------

/** Binary codes; a query rescores `depth × k` candidates from `full`. */
export function buildBinary(depth: number): (vectors: Float32Array[], full: FullRows) => VectorStore {
  return (vectors, full) => {
    const dim = vectors.length > 0 ? vectors[0].length : full.dim;
    const codes = BinaryVectors.fit(vectors, dim);
    for (const v of vectors) codes.add(v);
    const read = (row: number, out: Float32Array) => full.read(row, out);
    return {
      size: codes.size,
      dim,
      search(query: Float32Array, k: number): ScoredLabel[] {
        check(this, query, k);
        if (codes.size === 0) return [];
        const candidates = codes.search(query, Math.min(codes.size, depth * k));
        return rescore(query, candidates.map((h) => h.label), read, k);
      },
    };
  };
}

// ---- text layouts -----------------------------------------------------------------------------------------------

function textAt(i: number, size: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new RagError('INVALID_INPUT', `get: no text ${i} (size ${size})`);
}

/**
 * Each text compressed on its own, the outputs copied back to back into one buffer with a table of where each starts:
 * the compressed bytes and 8 bytes a text, nothing more (see `keptAsReturned` for what keeping zlib's outputs costs).
 */
class PerText implements TextStore {
  readonly size: number;
  private readonly data: Buffer;
  private readonly starts: Float64Array;
  private readonly inflate: (b: Buffer) => Buffer;

  constructor(texts: string[], deflate: (b: Buffer) => Buffer, inflate: (b: Buffer) => Buffer) {
    const parts = texts.map((t) => deflate(Buffer.from(t, 'utf8')));
    this.starts = new Float64Array(parts.length + 1);
    parts.forEach((p, i) => (this.starts[i + 1] = this.starts[i] + p.length));
    this.data = Buffer.allocUnsafeSlow(this.starts[parts.length]);
    parts.forEach((p, i) => p.copy(this.data, this.starts[i]));
    this.size = parts.length;
    this.inflate = inflate;
  }

  get(i: number): string {
    textAt(i, this.size);
    return this.inflate(this.data.subarray(this.starts[i], this.starts[i + 1])).toString('utf8');
  }
}

/** Each text compressed on its own with gzip. */
export function packGzipEach(texts: string[]): TextStore {
  return new PerText(texts, (b) => gzipSync(b), (b) => gunzipSync(b));
}

/** Each text compressed on its own with brotli (quality 5, as the blocks). */
export function packBrotliEach(texts: string[]): TextStore {
  return new PerText(texts, (b) => compressBlock(b, 'brotli', 5), (b) => decompressBlock(b, 'brotli'));
}

/**
 * Each text gzipped on its own and kept as zlib returns it (`copy: false`) or copied with `Buffer.from` (`copy:
 * true`). Both look compact and are not: zlib's sync output is a view into a 16 KiB buffer, and `Buffer.from` copies
 * small buffers into a shared 8 KiB pool slab that also holds other, dead allocations made around it (here the text's
 * own UTF-8 bytes); a live view keeps its whole slab. What each really holds is in the README.
 */
export function keptAsReturned(texts: string[], copy: boolean): TextStore {
  const parts = texts.map((t) => {
    const z = gzipSync(Buffer.from(t, 'utf8'));
    return copy ? Buffer.from(z) : z;
  });
  return {
    size: parts.length,
    get(i) {
      textAt(i, parts.length);
      return gunzipSync(parts[i]).toString('utf8');
    },
  };
}

/** Blocks of `blockBytes` (the same code as after.ts, another size). */
export function packBlocksOf(blockBytes: number): (texts: string[]) => TextStore {
  return (texts) => new TextBlocks(texts, { blockBytes });
}
