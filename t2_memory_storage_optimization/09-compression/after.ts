/**
 * 09-compression, after: small codes in memory, full precision on disk for the few rows that need it.
 *
 * Vectors: every row is kept as 8-bit codes, one byte per dimension (100 bytes per 100-d vector instead of 400), with
 * a per-dimension range learned from the data (`Int8Quantizer`, shared/index/quantize.ts). A query scans the codes
 * for its best `OVERSAMPLE × k` candidates by estimated cosine, then `rescore` reads just those rows at full precision
 * from the vector file (one positioned read each) and ranks them by their exact cosine: the hits and their scores are
 * the float32 ones, unless a true top-k row fell outside the candidates.
 *
 * Texts: concatenated into blocks of about 32 KiB and each block compressed with brotli (`TextBlocks`,
 * shared/store/blocks.ts): a block has the context a single chunk lacks, and a read decompresses one block.
 */
import { RagError } from '../../shared/errors.ts';
import { Int8Quantizer, Int8Vectors, rescore } from '../../shared/index/quantize.ts';
import { TextBlocks } from '../../shared/store/blocks.ts';
import type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

export type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

/** Candidates rescored per hit asked for: the int8 top 3k holds the exact top k (recall in the README). */
const OVERSAMPLE = 3;

class QuantizedIndex implements VectorStore {
  readonly size: number;
  readonly dim: number;
  private readonly codes: Int8Vectors;
  private readonly read: (row: number, out: Float32Array) => void;

  constructor(codes: Int8Vectors, full: FullRows) {
    this.codes = codes;
    this.size = codes.size;
    this.dim = codes.dim;
    this.read = (row, out) => full.read(row, out);
  }

  search(query: Float32Array, k: number): ScoredLabel[] {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
    if (query.length !== this.dim) throw new RagError('INVALID_INPUT', `search: query has dim ${query.length}, index has dim ${this.dim}`);
    if (this.size === 0) return [];
    const candidates = this.codes.search(query, Math.min(this.size, k * OVERSAMPLE));
    return rescore(query, candidates.map((h) => h.label), this.read, k);
  }
}

/** int8 codes of every row in memory; `full` (on disk) is read back for the candidates a query rescores. */
export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  const dim = vectors.length > 0 ? vectors[0].length : full.dim;
  const codes = new Int8Vectors(Int8Quantizer.fit(vectors, dim), Math.max(1, vectors.length));
  for (const v of vectors) codes.add(v);
  return new QuantizedIndex(codes, full);
}

/** The texts in brotli-compressed blocks of about 32 KiB. */
export function packTexts(texts: string[]): TextStore {
  return new TextBlocks(texts);
}
