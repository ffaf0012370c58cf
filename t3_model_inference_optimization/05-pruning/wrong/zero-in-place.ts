/**
 * Wrong (on purpose): unstructured pruning, the weights of the least important neurons and heads set to zero where
 * they are. The outputs change as much as if they had been removed, but every matrix keeps its shape: the file has
 * the same bytes and a dense MatMul multiplies the zeros as fast as any other number, so nothing gets smaller or
 * faster.
 *
 * What differs from after.ts: the same neurons and heads are chosen, then zeroed in copies of the full-size tensors
 * instead of being cut out.
 *
 * @rejected-with zeroing weights in place
 */
import type { EncoderWeights, WeightTensor } from '../../../shared/model/encoder.ts';
import { ffnNeuronImportance, headImportance, keptCount, layerShapesOf, topIndices } from '../../../shared/model/prune.ts';
import type { PruneAmount } from '../after.ts';

export type { PruneAmount, PruneEncoder } from '../after.ts';

export function pruneEncoder(weights: EncoderWeights, amount: PruneAmount): EncoderWeights {
  const tensors = new Map<string, WeightTensor>(weights.tensors);
  const d = weights.config.hidden / weights.config.heads;
  const zero = (name: string, isDropped: (row: number, col: number) => boolean) => {
    const t = tensors.get(name)!;
    const [rows, cols] = t.dims.length === 2 ? t.dims : [1, t.dims[0]];
    const data = Float32Array.from(t.data);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (isDropped(r, c)) data[r * cols + c] = 0;
    tensors.set(name, { dims: t.dims, data });
  };
  layerShapesOf(weights).forEach((s, i) => {
    const neurons = new Set(topIndices(ffnNeuronImportance(weights, i), keptCount(s.ffn, amount.ffn)));
    zero(`layer.${i}.ffn.up.weight`, (_r, c) => !neurons.has(c));
    zero(`layer.${i}.ffn.up.bias`, (_r, c) => !neurons.has(c));
    zero(`layer.${i}.ffn.down.weight`, (r) => !neurons.has(r));
    const heads = new Set(topIndices(headImportance(weights, i), keptCount(s.heads, amount.heads)));
    for (const m of ['q', 'k', 'v']) {
      zero(`layer.${i}.attn.${m}.weight`, (_r, c) => !heads.has(Math.floor(c / d)));
      zero(`layer.${i}.attn.${m}.bias`, (_r, c) => !heads.has(Math.floor(c / d)));
    }
    zero(`layer.${i}.attn.out.weight`, (r) => !heads.has(Math.floor(r / d)));
  });
  return { config: weights.config, tensors };
}
