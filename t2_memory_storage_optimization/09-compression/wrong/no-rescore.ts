/**
 * Wrong (on purpose): the half-solution: int8 codes in memory and their scores returned as they are. Memory and
 * recall pass (the int8 top 10 is nearly the exact one), but every score is an estimate a few thousandths off, and
 * the engine fuses and thresholds scores.
 *
 * What differs from after.ts: search returns the codes' top k with their estimated scores (no rescoring);
 * `packTexts` is after.ts's.
 *
 * @rejected-with its exact cosine is
 */
import { buildInt8Only } from '../variants.ts';
import type { FullRows, VectorStore } from '../after.ts';

export { packTexts, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  return buildInt8Only(vectors, full);
}
