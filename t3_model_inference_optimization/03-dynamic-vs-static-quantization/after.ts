/**
 * 03-dynamic-vs-static-quantization, after: the activation scales fixed once, from a calibration sample.
 *
 * The weights are int8 per output column as in lesson 01. What changes is the activations: instead of measuring every
 * activation tensor's min and max on every call (DynamicQuantizeLinear), the model is run once, offline, on a
 * calibration sample, and each MatMul input gets a fixed uint8 scale and zero point covering the values it took there.
 * At run time QuantizeLinear applies them (no min/max pass), and onnxruntime's QDQ transformer turns QuantizeLinear →
 * DequantizeLinear → MatMul ← DequantizeLinear(W) into its MatMulIntegerToFloat int8 kernel.
 *
 * The decision is the calibration: which statistic, over which sample. A fixed range clips every value beyond it, on
 * every input that reaches further than the sample did. Here: the min and max (nothing the sample showed is clipped)
 * over the whole sample, documents and queries both, because short queries attend to fewer tokens and their
 * activations reach further than documents' (measured in the README). `calibrateActivations` and
 * `quantizeMatMulStatic` in shared/model/quantize.ts run the sample and rewrite the graph.
 */
import { calibrateActivations, minMaxRange, quantizeMatMulStatic } from '../../shared/model/quantize.ts';
import { batchedFeeds } from './data.ts';

/**
 * Model bytes + the names of its [in, out] MatMul weights + the calibration sample (token-id lists: what the engine
 * embeds, documents and queries) → model bytes with int8 weights and int8 activations.
 */
export type QuantizeModel = (model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]) => Promise<Uint8Array>;

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]): Promise<Uint8Array> {
  const ranges = await calibrateActivations(model, weightNames, batchedFeeds(calibration), minMaxRange);
  return quantizeMatMulStatic(model, ranges);
}
