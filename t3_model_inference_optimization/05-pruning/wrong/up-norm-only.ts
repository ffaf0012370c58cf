/**
 * Wrong (on purpose): magnitude pruning that looks at one side of the neuron, the norm of its ffn.up column (how
 * strongly it reads the input), and ignores its ffn.down row (how strongly it writes the output). A neuron that reads
 * loudly and writes almost nothing is kept; a quiet reader with a loud write-out is dropped. The heads are chosen as
 * after.ts chooses them.
 *
 * What differs from after.ts: the FFN importance is ‖up[:, j]‖ instead of ‖up[:, j]‖ · ‖down[j, :]‖.
 *
 * @rejected-with below the 0.988 floor
 */
import type { EncoderWeights } from '../../../shared/model/encoder.ts';
import { headImportance, keptCount, layerShapesOf, pruneEncoderWeights, topIndices } from '../../../shared/model/prune.ts';
import type { PruneAmount } from '../after.ts';

export type { PruneAmount, PruneEncoder } from '../after.ts';

function upColumnNorms(weights: EncoderWeights, layer: number): Float64Array {
  const t = weights.tensors.get(`layer.${layer}.ffn.up.weight`)!;
  const [rows, cols] = t.dims;
  const s = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s[c] += t.data[r * cols + c] ** 2;
  return s;
}

export function pruneEncoder(weights: EncoderWeights, amount: PruneAmount): EncoderWeights {
  const shapes = layerShapesOf(weights);
  return pruneEncoderWeights(weights, {
    ffn: shapes.map((s, i) => topIndices(upColumnNorms(weights, i), keptCount(s.ffn, amount.ffn))),
    heads: shapes.map((s, i) => topIndices(headImportance(weights, i), keptCount(s.heads, amount.heads))),
  });
}
