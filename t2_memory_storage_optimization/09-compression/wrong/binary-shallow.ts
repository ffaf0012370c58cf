/**
 * Wrong (on purpose): the smallest codes: one bit a dimension (16 bytes a 100-d vector), then the same exact
 * rescoring as after.ts over 3 × k candidates. A bit per dimension ranks too coarsely: most of the true top 10 are not
 * among the 30 best by Hamming distance, and rescoring cannot return a row it never sees.
 *
 * What differs from after.ts: the codes (variants.ts's binary codes instead of int8); the rescoring depth and
 * `packTexts` are after.ts's.
 *
 * @rejected-with below the 0.95 recall floor
 */
import { buildBinary } from '../variants.ts';
import type { FullRows, VectorStore } from '../after.ts';

/** after.ts's rescoring depth. */
const OVERSAMPLE = 3;

export { packTexts, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  return buildBinary(OVERSAMPLE)(vectors, full);
}
