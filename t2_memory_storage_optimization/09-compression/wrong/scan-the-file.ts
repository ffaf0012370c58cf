/**
 * Wrong (on purpose): nothing in memory at all: every query reads every row of the vector file and scores it exactly.
 * Zero bytes per vector and exact answers, paid with n positioned reads (n × 400 bytes) per query: the disk is used
 * as memory.
 *
 * What differs from after.ts: buildIndex keeps no codes and search rescores all rows; `packTexts` is after.ts's.
 *
 * @rejected-with full-precision rows from disk, bound
 */
import { RagError } from '../../../shared/errors.ts';
import { rescore } from '../../../shared/index/quantize.ts';
import type { FullRows, ScoredLabel, VectorStore } from '../after.ts';

export { packTexts, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  const size = vectors.length;
  const dim = size > 0 ? vectors[0].length : full.dim;
  const read = (row: number, out: Float32Array) => full.read(row, out);
  return {
    size,
    dim,
    search(query: Float32Array, k: number): ScoredLabel[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (query.length !== dim) throw new RagError('INVALID_INPUT', `search: query has dim ${query.length}, index has dim ${dim}`);
      if (size === 0) return [];
      return rescore(query, Array.from({ length: size }, (_, i) => i), read, k);
    },
  };
}
