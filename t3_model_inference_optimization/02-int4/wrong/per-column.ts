/**
 * Wrong (on purpose): one scale and zero point per output column, lesson 01's granularity carried to 4 bits. At int8
 * a column's 255 levels absorb a weight 6× larger than the rest; at 4 bits its 16 levels do not: the step becomes
 * range / 15 of the whole column, and every ordinary weight in a column with one outlier rounds to one of a few codes.
 * (Stored in MatMulNBits's blocks with the column's scale repeated: its CPU kernel takes no block longer than 256.)
 *
 * What differs from after.ts: the scale is shared by the whole column instead of by blocks of 32 inputs.
 *
 * @rejected-with shares its scale with a range wider than its block's
 */
import { quantizeMatMulNBits } from '../../../shared/model/quantize.ts';
import { perColumn4 } from '../data.ts';

export type { QuantizeModel } from '../after.ts';

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulNBits(model, weightNames, { quantizer: perColumn4, accuracyLevel: 4 });
}
