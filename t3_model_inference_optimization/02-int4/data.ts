/**
 * What the checkpoint and the benchmark of 02-int4 share: the encoder's weights, seeded, with a few outlier weights
 * in every MatMul weight, and the one-scale-per-column 4-bit quantizer the lesson measures against blocks.
 * (Sessions, seeded token lists and fidelity: shared/model/session.ts.)
 *
 * Seeded weights: outputs carry no meaning; fidelity is the cosine of the 4-bit model's output to the fp32 model's on
 * the same input.
 */
import { encoderWeights, matmulWeightNames, type EncoderOptions, type EncoderWeights } from '../../shared/model/encoder.ts';
import { quantizeColumns4, type NBitsQuantizer } from '../../shared/model/quantize.ts';
import { mulberry32 } from '../../shared/util/random.ts';

/**
 * The seeded weights with a fraction `rate` of each MatMul weight's entries multiplied by `factor`. BERT's seeded init
 * is Gaussian: every column's largest weight is about 3 standard deviations. A trained model's weights have heavier
 * tails: a few weights per column several times larger than the rest, and at 4 bits (15 steps) the step a group of
 * weights shares is set by its largest one. With rate 1/128 and factor 6, a column of 512 inputs holds about 4 such
 * weights and a block of 32 holds one a quarter of the time.
 */
export function outlierWeights(opts: EncoderOptions, rate: number, factor: number, seed = 7): EncoderWeights {
  const w = encoderWeights(opts);
  if (rate === 0) return w;
  const rand = mulberry32(seed);
  const tensors = new Map(w.tensors);
  for (const name of matmulWeightNames(opts)) {
    const t = w.tensors.get(name)!;
    const data = Float32Array.from(t.data, (v) => (rand() < rate ? v * factor : v));
    tensors.set(name, { dims: t.dims, data });
  }
  return { config: w.config, tensors };
}

/**
 * One scale and zero point per output column (lesson 01's granularity at 4 bits), stored in MatMulNBits's blocks (the
 * column's length rounded up to a power of 2, at most 256: onnxruntime's CPU kernel takes no longer block) with the
 * column's scale repeated in each.
 */
export const perColumn4: NBitsQuantizer = (w, K, N) => quantizeColumns4(w, K, N, Math.min(256, 2 ** Math.ceil(Math.log2(K))), 'asymmetric');
