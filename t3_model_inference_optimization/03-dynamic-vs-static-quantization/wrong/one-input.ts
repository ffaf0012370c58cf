/**
 * Wrong (on purpose): calibrate on one input ("the ranges only need one forward pass"). The min and max of one text
 * are not the min and max of the next: every other input reaching further is clipped at the ends of a range one
 * sample happened to set.
 *
 * What differs from after.ts: the sample is `calibration.slice(0, 1)` instead of the whole calibration sample.
 *
 * @rejected-with one input does not show the extremes
 */
import { calibrateActivations, minMaxRange, quantizeMatMulStatic } from '../../../shared/model/quantize.ts';
import { batchedFeeds } from '../data.ts';

export type { QuantizeModel } from '../after.ts';

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]): Promise<Uint8Array> {
  return quantizeMatMulStatic(model, await calibrateActivations(model, weightNames, batchedFeeds(calibration.slice(0, 1)), minMaxRange));
}
