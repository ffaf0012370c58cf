/**
 * 01-int8-weights, after: the MatMul weights stored as int8, one symmetric scale per output channel, multiplied by
 * onnxruntime's int8 kernels.
 *
 * For a weight W [in, out] (the graph computes x·W), output column j gets its own scale s_j = max_i |W_ij| / 127 and
 * codes q_ij = round(W_ij / s_j) in [−127, 127]: 1 byte per weight instead of 4, and no column is measured in steps
 * of another column's largest weight. Because s_j depends only on the output column, it factors out of the sum:
 *
 *     y_j = Σ_i x_i · W_ij ≈ s_j · Σ_i x_i · q_ij
 *
 * so the whole dot product can run in integers. At run time the activations x are quantized too, per call
 * (DynamicQuantizeLinear: one uint8 scale and zero point from the tensor's min and max), MatMulInteger sums uint8 ×
 * int8 products in int32, and one multiply by x_scale · s_j per output turns the sum back into float32. onnxruntime
 * fuses that chain into its DynamicQuantizeMatMul / MatMulIntegerToFloat kernels (the pattern its Python
 * `quantize_dynamic` writes). The graph rewrite is the engine's: `quantizeMatMulWeights` in shared/model/quantize.ts;
 * the decision this lesson is about is the quantizer below.
 *
 * Why not the QDQ form (DequantizeLinear on the int8 weight feeding the float MatMul): measured in the README, on
 * onnxruntime 1.30's CPU provider it stores the same int8 bytes, but onnxruntime fuses it into its MatMulNBits kernel
 * with 8-bit weights, which was no faster than fp32 (the bench keeps it as a variant).
 */
import { quantizeMatMulWeights, quantizeSymmetric, type WeightQuantizer } from '../../shared/model/quantize.ts';

/** Model bytes + the names of its [in, out] MatMul weight initializers → model bytes with those weights in int8. */
export type QuantizeModel = (model: Uint8Array, weightNames: readonly string[]) => Uint8Array;

/** One symmetric scale per output column of an [in, out] weight. */
const perOutputChannel: WeightQuantizer = (w, rows, cols) => quantizeSymmetric(w, rows, cols, 'column');

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer', quantizer: perOutputChannel });
}
