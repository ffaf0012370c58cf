/**
 * Wrong (on purpose): "calibrate" on what is at hand without running the model: the fp32 weights' own min and max.
 * The weights are what lesson 01 already quantized; the activations a MatMul reads are LayerNorm outputs, attention
 * averages and GELU outputs, an order of magnitude wider than weights of std 0.1. Most activation values are clipped.
 *
 * What differs from after.ts: the ranges are the weights' min/max instead of the activations'.
 *
 * @rejected-with range of the fp32 weight
 */
import { floatsOf, initializersOf, minMaxRange, quantizeMatMulStatic, type ActivationRange } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

export async function quantizeModel(model: Uint8Array, weightNames: readonly string[], _calibration: readonly number[][]): Promise<Uint8Array> {
  const init = initializersOf(model);
  const ranges = new Map<string, ActivationRange>(weightNames.map((n) => [n, minMaxRange(floatsOf(init.get(n)!), n)]));
  return quantizeMatMulStatic(model, ranges);
}
