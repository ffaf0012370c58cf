/**
 * Wrong (on purpose): int8 codes and exact rescoring, but the rescoring reads the caller's float32 vectors, kept in
 * memory, instead of the file: the codes are 100 bytes a vector and the originals they were meant to replace are
 * still held beside them (500 bytes a vector, more than before).
 *
 * What differs from after.ts: where the full-precision rows for rescoring come from (the vectors given to
 * buildIndex, kept, instead of `full`); the codes, the candidates and `packTexts` are after.ts's.
 *
 * @rejected-with bytes per vector, over the bound
 */
import { RagError } from '../../../shared/errors.ts';
import { Int8Quantizer, Int8Vectors, normalizeInto, rescore } from '../../../shared/index/quantize.ts';
import type { FullRows, ScoredLabel, VectorStore } from '../after.ts';

/** after.ts's rescoring depth. */
const OVERSAMPLE = 3;

export { packTexts, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  const dim = vectors.length > 0 ? vectors[0].length : full.dim;
  const codes = new Int8Vectors(Int8Quantizer.fit(vectors, dim), Math.max(1, vectors.length));
  for (const v of vectors) codes.add(v);
  const kept = vectors;
  const read = (row: number, out: Float32Array) => normalizeInto(kept[row], out);
  return {
    size: vectors.length,
    dim,
    search(query: Float32Array, k: number): ScoredLabel[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (query.length !== dim) throw new RagError('INVALID_INPUT', `search: query has dim ${query.length}, index has dim ${dim}`);
      if (codes.size === 0) return [];
      const candidates = codes.search(query, Math.min(codes.size, k * OVERSAMPLE));
      return rescore(query, candidates.map((h) => h.label), read, k);
    },
  };
}
