/**
 * 03-dynamic-vs-static-quantization, before: lesson 01's int8 model, the activations quantized per call.
 *
 * Every MatMul weight is int8 with one scale per output column, and every MatMul input goes through
 * DynamicQuantizeLinear: on each run onnxruntime reads the whole activation tensor once for its min and max, derives a
 * uint8 scale and zero point, then quantizes it (onnxruntime fuses that into DynamicQuantizeMatMul). Nothing can be
 * clipped, because the range is that call's own; the price is the extra pass over every activation on every call.
 * The calibration sample is not used.
 */
import { quantizeMatMulWeights } from '../../shared/model/quantize.ts';

export type { QuantizeModel } from './after.ts';

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], _calibration: readonly number[][]): Promise<Uint8Array> {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer' });
}
