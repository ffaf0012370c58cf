/**
 * Wrong (on purpose): the neurons are cut out of ffn.up (its columns and its bias), and ffn.down is left as it was.
 * ffn.down still expects F inputs where only F' arrive: the model does not build (a MatMul of [.., F'] by [F, H]);
 * had it been cut to its first F' rows instead, it would run and mix each kept neuron with another neuron's
 * write-out.
 *
 * What differs from after.ts: the FFN surgery is hand-written and forgets ffn.down's rows (heads go through
 * pruneEncoderWeights as in after.ts).
 *
 * @rejected-with rows of ffn.down
 */
import type { EncoderWeights, WeightTensor } from '../../../shared/model/encoder.ts';
import { ffnNeuronImportance, headImportance, keepColumns, keptCount, layerShapesOf, pruneEncoderWeights, topIndices } from '../../../shared/model/prune.ts';
import type { PruneAmount } from '../after.ts';

export type { PruneAmount, PruneEncoder } from '../after.ts';

export function pruneEncoder(weights: EncoderWeights, amount: PruneAmount): EncoderWeights {
  const shapes = layerShapesOf(weights);
  const headsPruned = pruneEncoderWeights(weights, {
    heads: shapes.map((s, i) => topIndices(headImportance(weights, i), keptCount(s.heads, amount.heads))),
  });
  const tensors = new Map<string, WeightTensor>(headsPruned.tensors);
  const layerShapes = layerShapesOf(headsPruned);
  layerShapes.forEach((s, i) => {
    const keep = topIndices(ffnNeuronImportance(weights, i), keptCount(s.ffn, amount.ffn));
    const up = tensors.get(`layer.${i}.ffn.up.weight`)!;
    const [h, f] = up.dims;
    tensors.set(`layer.${i}.ffn.up.weight`, { dims: [h, keep.length], data: keepColumns(up.data, h, f, keep) });
    tensors.set(`layer.${i}.ffn.up.bias`, { dims: [keep.length], data: keepColumns(tensors.get(`layer.${i}.ffn.up.bias`)!.data, 1, f, keep) });
    s.ffn = keep.length;
  });
  return { config: weights.config, tensors, layerShapes };
}
