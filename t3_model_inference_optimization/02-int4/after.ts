/**
 * 02-int4, after: the MatMul weights stored in 4 bits, one scale and zero point per block of 32 inputs of each output
 * column, run by onnxruntime's MatMulNBits kernel (com.microsoft).
 *
 * At 4 bits a group of weights sharing a scale gets 16 levels, so the group's range decides everything: one weight
 * 6× larger than its neighbours makes the step 6× coarser for every weight in its group. With one scale per output
 * column (lesson 01's granularity) the group is the whole column (384 or 1,536 inputs), and a column with one large
 * weight loses most of the rest. With a block of 32 consecutive inputs along K (the summed axis), the large weight
 * coarsens only its own 31 neighbours. The price is one float scale and a 4-bit zero point per 32 weights: 0.64 bytes
 * per weight instead of 0.5, against 4 in float32 and 1 in int8.
 *
 * Within a block: asymmetric, as onnxruntime's own block quantizer does. The block's range [min(0, lo), max(0, hi)]
 * is cut into 15 steps, scale = range / 15, zero point = round(−min / scale) ∈ 0..15, code = round(w / scale) + zero
 * point: all 16 codes used, 0 exact. MatMulNBits stores W transposed (B [N, blocks, 16 bytes], column after column,
 * element 2i in the low nibble) and computes x · ((code − zero point) · scale) per block; `quantizeMatMulNBits` and
 * `quantizeBlockwise4` in shared/model/quantize.ts write that layout. accuracy_level 4 lets the kernel multiply with
 * int8 activations (same fidelity here, a little faster than level 0).
 */
import { quantizeBlockwise4, quantizeMatMulNBits, type NBitsQuantizer } from '../../shared/model/quantize.ts';

/** Model bytes + the names of its [in, out] MatMul weight initializers → model bytes with those weights in 4 bits. */
export type QuantizeModel = (model: Uint8Array, weightNames: readonly string[]) => Uint8Array;

/** Blocks of 32 inputs along K in each output column, a scale and a zero point per block. */
const blocksOf32: NBitsQuantizer = (w, K, N) => quantizeBlockwise4(w, K, N, 32, 'asymmetric');

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulNBits(model, weightNames, { quantizer: blocksOf32, accuracyLevel: 4 });
}
