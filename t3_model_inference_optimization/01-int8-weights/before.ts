/**
 * 01-int8-weights, before: the model as exported, every weight float32.
 *
 * The seeded MiniLM-L6-shaped encoder (shared/model/encoder.ts) is 90.3 MB: 22.6M parameters × 4 bytes. Its 36
 * MatMul weights (10.6M parameters, 42 MB) are where the time goes, and each run multiplies them in float32.
 * `quantizeModel` is the identity here: the fp32 model is the baseline every int8 form is compared with.
 */
export type { QuantizeModel } from './after.ts';

/** Returns the model unchanged (float32 weights). `weightNames` are the MatMul weights an int8 rewrite would change. */
export function quantizeModel(model: Uint8Array, _weightNames: readonly string[]): Uint8Array {
  return model;
}
