/**
 * Wrong (on purpose): one scale for the whole tensor, the first int8 most people write (max |W| / 127 over all of
 * W). Every column is then measured in steps of the largest weight anywhere in the tensor: a column whose weights
 * are 10× smaller keeps about 25 of the 255 levels, and its outputs lose precision a per-column scale would keep.
 *
 * What differs from after.ts: the quantizer's scale is per tensor, not per output column.
 *
 * @rejected-with own int8 step
 */
import { quantizeMatMulWeights, quantizeSymmetric } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer', quantizer: (w, rows, cols) => quantizeSymmetric(w, rows, cols, 'tensor') });
}
