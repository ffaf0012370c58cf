/**
 * Wrong (on purpose): the range from the mean: mean ± 3 standard deviations of the values seen ("99.7% of a normal
 * distribution", and the step gets finer). Activations are not normal: GELU outputs pile up near 0 with a long
 * positive tail, attention outputs have heavy tails. Every value past 3σ, a few per cent of them, is clipped, on the
 * calibration inputs themselves.
 *
 * What differs from after.ts: the statistic is mean ± 3σ instead of min/max.
 *
 * @rejected-with statistic of the centre
 */
import { calibrateActivations, quantizeMatMulStatic, type ActivationStatistic } from '../../../shared/model/quantize.ts';
import { batchedFeeds } from '../data.ts';

export type { QuantizeModel } from '../after.ts';

const meanPm3Sd: ActivationStatistic = (values) => {
  let sum = 0;
  let sq = 0;
  for (const v of values) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / values.length;
  const sd = Math.sqrt(Math.max(0, sq / values.length - mean * mean));
  return { min: mean - 3 * sd, max: mean + 3 * sd };
};

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]): Promise<Uint8Array> {
  return quantizeMatMulStatic(model, await calibrateActivations(model, weightNames, batchedFeeds(calibration), meanPm3Sd));
}
