/**
 * Wrong (on purpose): a scale per row, the output channel of PyTorch's Linear ([out, in]) carried over to an ONNX
 * MatMul weight, which is stored [in, out]: a row here is an input channel. Its scale does not factor out of
 * y_j = Σ_i x_i · W_ij, so no int8 kernel can apply it after the integer sum, and the rewrite refuses it.
 *
 * What differs from after.ts: the quantizer's scale is per row (axis 0) instead of per output column.
 *
 * @rejected-with does not factor out of the sum
 */
import { quantizeMatMulWeights, quantizeSymmetric } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer', quantizer: (w, rows, cols) => quantizeSymmetric(w, rows, cols, 'row') });
}
