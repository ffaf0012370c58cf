/**
 * 02-int4, before: the model as exported, every weight float32.
 *
 * The seeded MiniLM-L6-shaped encoder (shared/model/encoder.ts) is 90.3 MB: 22.6M parameters × 4 bytes, 42.5 MB of
 * them in its 36 MatMul weights. `quantizeModel` is the identity here: the fp32 model every 4-bit form is compared
 * with (lesson 01's int8 model is measured beside it in the bench).
 */
export type { QuantizeModel } from './after.ts';

/** Returns the model unchanged (float32 weights). `weightNames` are the MatMul weights a 4-bit rewrite would change. */
export function quantizeModel(model: Uint8Array, _weightNames: readonly string[]): Uint8Array {
  return model;
}
