/**
 * Wrong (on purpose): half precision, the usual first step: 2 bytes a dimension, scanned directly. Recall is fine and
 * the scores are close, but 200 bytes a vector is half of float32, not a quarter, and the scores are not the
 * float32 ones.
 *
 * What differs from after.ts: buildIndex (variants.ts's binary16 index instead of int8 codes + rescoring);
 * `packTexts` is after.ts's.
 *
 * @rejected-with bytes per vector, over the bound
 */
import { buildF16 } from '../variants.ts';
import type { FullRows, VectorStore } from '../after.ts';

export { packTexts, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  return buildF16(vectors, full);
}
