/**
 * Wrong (on purpose): "an int8 goes down to −128", so the scale is max |w| / 128 and codes are round(w / scale)
 * stored straight into an Int8Array. The largest weight of each column becomes the code 128, which an Int8Array
 * silently wraps to −128: that weight changes sign, and it is the largest one.
 *
 * What differs from after.ts: the quantizer divides by 128 and does not clamp.
 *
 * @rejected-with flipped sign
 */
import { quantizeMatMulWeights, type WeightQuantizer } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

const to128: WeightQuantizer = (w, rows, cols) => {
  const scale = new Float32Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) scale[c] = Math.max(scale[c], Math.abs(w[r * cols + c]) / 128);
  const q = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q[r * cols + c] = Math.round(w[r * cols + c] / scale[c]);
  return { q, scale, axis: 'column' };
};

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer', quantizer: to128 });
}
