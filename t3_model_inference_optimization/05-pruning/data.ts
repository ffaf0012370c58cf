/**
 * What the checkpoint and the benchmark of 05-pruning share: encoder weights with a planted spread in how much each
 * FFN neuron and each head matters.
 *
 * Seeded weights: outputs carry no meaning; fidelity is the cosine of the pruned model's output to the unpruned
 * model's on the same input.
 */
import { encoderConfig, encoderWeights, type EncoderOptions, type EncoderWeights } from '../../shared/model/encoder.ts';
import { gaussian, mulberry32 } from '../../shared/util/random.ts';

/**
 * The seeded weights with a planted spread of importance: in every layer, FFN neuron j's column of ffn.up is
 * multiplied by exp(spread · N(0, 1)) and its row of ffn.down by another, independent exp(spread · N(0, 1)); head h's
 * columns of attn.v and rows of attn.out the same way. Seeded BERT init makes every neuron and head look alike (their
 * norms differ by a few percent), so an importance score has nothing to find; a trained model's neurons and heads
 * differ by an order of magnitude, which is what decides which to keep. With spread 0.75 a factor varies about 20×
 * between −2 and +2 standard deviations; the two sides are drawn independently, so a neuron loud on ffn.up can be
 * quiet on ffn.down.
 */
export function importanceSpreadWeights(opts: EncoderOptions, spread: number, seed = 7): EncoderWeights {
  const w = encoderWeights(opts);
  if (spread === 0) return w;
  const c = encoderConfig(opts);
  const d = c.hidden / c.heads;
  const draw = gaussian(mulberry32(seed));
  const tensors = new Map(w.tensors);
  const scale = (name: string, by: 'column' | 'row', factor: (k: number) => number) => {
    const t = w.tensors.get(name)!;
    const [rows, cols] = t.dims;
    const data = new Float32Array(t.data.length);
    for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) data[r * cols + k] = t.data[r * cols + k] * factor(by === 'column' ? k : r);
    tensors.set(name, { dims: t.dims, data });
  };
  for (let i = 0; i < c.layers; i++) {
    const up = Float64Array.from({ length: c.ffn }, () => Math.exp(spread * draw()));
    const down = Float64Array.from({ length: c.ffn }, () => Math.exp(spread * draw()));
    scale(`layer.${i}.ffn.up.weight`, 'column', (k) => up[k]);
    scale(`layer.${i}.ffn.down.weight`, 'row', (k) => down[k]);
    const v = Float64Array.from({ length: c.heads }, () => Math.exp(spread * draw()));
    const out = Float64Array.from({ length: c.heads }, () => Math.exp(spread * draw()));
    scale(`layer.${i}.attn.v.weight`, 'column', (k) => v[Math.floor(k / d)]);
    scale(`layer.${i}.attn.out.weight`, 'row', (k) => out[Math.floor(k / d)]);
  }
  return { config: w.config, tensors };
}

