/**
 * What the checkpoint and the benchmark of 01-int8-weights share: the encoder's weights, seeded, with output channels
 * of different ranges. (Sessions, seeded token lists and fidelity: shared/model/session.ts.)
 *
 * Seeded weights: outputs carry no meaning; fidelity is the cosine of the int8 model's output to the fp32 model's on
 * the same input.
 */
import { encoderWeights, matmulWeightNames, type EncoderOptions, type EncoderWeights } from '../../shared/model/encoder.ts';
import { gaussian, mulberry32 } from '../../shared/util/random.ts';

/**
 * The seeded weights, each MatMul weight's output column j multiplied by exp(spread · N(0, 1)). BERT's seeded init
 * gives every column the same range, which a trained model does not: its output channels differ in range by an
 * order of magnitude, and that is what decides between one scale per tensor and one per channel. With spread 0.75 the
 * columns of one tensor differ in range by e^(0.75 · 4) ≈ 20× between −2 and +2 standard deviations.
 */
export function channelSpreadWeights(opts: EncoderOptions, spread: number, seed = 7): EncoderWeights {
  const w = encoderWeights(opts);
  if (spread === 0) return w;
  const draw = gaussian(mulberry32(seed));
  const tensors = new Map(w.tensors);
  for (const name of matmulWeightNames(opts)) {
    const t = w.tensors.get(name)!;
    const [rows, cols] = t.dims;
    const factor = Float32Array.from({ length: cols }, () => Math.exp(spread * draw()));
    const data = new Float32Array(t.data.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = t.data[r * cols + c] * factor[c];
    tensors.set(name, { dims: t.dims, data });
  }
  return { config: w.config, tensors };
}
