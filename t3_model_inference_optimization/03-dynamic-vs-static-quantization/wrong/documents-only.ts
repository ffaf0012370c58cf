/**
 * Wrong (on purpose): calibrate on the corpus ("the documents are what the model mostly embeds", and the queries at
 * the end of the sample look too short to matter). A query of one to four tokens attends to itself and a few
 * neighbours, so its attention output is an average of fewer vectors and reaches further than any document's: the
 * ranges fitted to documents clip the queries, the inputs whose embedding decides the ranking.
 *
 * What differs from after.ts: the sample is the calibration's documents only (its first CALIBRATION_DOCUMENTS lists).
 *
 * @rejected-with covers the sample's documents but clips its queries
 */
import { calibrateActivations, minMaxRange, quantizeMatMulStatic } from '../../../shared/model/quantize.ts';
import { batchedFeeds, CALIBRATION_DOCUMENTS } from '../data.ts';

export type { QuantizeModel } from '../after.ts';

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]): Promise<Uint8Array> {
  const documents = calibration.slice(0, CALIBRATION_DOCUMENTS);
  return quantizeMatMulStatic(model, await calibrateActivations(model, weightNames, batchedFeeds(documents), minMaxRange));
}
