/**
 * EXERCISE 03-dynamic-vs-static-quantization — fix the activation scales once, from the calibration sample.
 *
 * As shipped it quantizes the activations per call (DynamicQuantizeLinear, as lesson 01 does): nothing is clipped,
 * and every call pays a min/max pass over every activation. The checkpoint accepts the outputs and rejects the
 * per-call scales.
 *
 * `quantizeModel(model, weightNames, calibration)` gets the serialised ONNX model, the names of its MatMul weights
 * (float32 [in, out]; the graph computes x·W) and a calibration sample: token-id lists of what the engine embeds
 * (documents first, then queries). `calibrateActivations(model, names, feeds, statistic)` in
 * shared/model/quantize.ts runs the model on the feeds you give it and hands your statistic every value each MatMul
 * input took; `quantizeMatMulStatic(model, ranges)` writes the graph with those ranges fixed. What is yours: which
 * inputs you calibrate on, and which statistic turns their values into a range.
 *
 * What must hold (checked by `npm run checkpoint -- 03-dynamic-vs-static-quantization`):
 *   - no activation is quantized per call: every MatMul input goes through a QuantizeLinear with a constant scale and
 *     zero point;
 *   - on held-out documents, queries and long documents (none of them in the sample), at most 0.1% of any MatMul
 *     input's values fall outside its fixed range (further than half a step);
 *   - the output cosine to the fp32 model is ≥ 0.9995 on average and ≥ 0.999 for each held-out document, ≥ 0.9993 and
 *     ≥ 0.997 for each held-out query, ≥ 0.9995 and ≥ 0.999 for each long document.
 *
 * Then measure latency at batch 1/8/32, fidelity and clipping beside before and after:
 *   npm run t3 -- --only 03-dynamic-vs-static-quantization --impl exercise --quick
 * Stuck? npm run hint -- 03-dynamic-vs-static-quantization
 */
import { quantizeMatMulWeights } from '../../shared/model/quantize.ts';

/** Model bytes + MatMul weight names + the calibration sample → model bytes with int8 weights and activations. */
export type QuantizeModel = (model: Uint8Array, weightNames: readonly string[], calibration: readonly number[][]) => Promise<Uint8Array>;

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], _calibration: readonly number[][]): Promise<Uint8Array> {
  return quantizeMatMulWeights(model, weightNames, { format: 'integer' });
}
