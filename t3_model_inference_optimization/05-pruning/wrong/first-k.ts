/**
 * Wrong (on purpose): structured, but blind: every layer keeps its first F' neurons and first h' heads, as if the
 * order of a layer's neurons meant something. The matrices shrink exactly as after.ts's do, so size and speed are the
 * same; which neurons go is left to chance, and on a model whose neurons differ in importance the important ones go
 * as often as the others.
 *
 * What differs from after.ts: the kept indices are 0..k−1 instead of the k most important.
 *
 * @rejected-with not the ones that matter
 */
import type { EncoderWeights } from '../../../shared/model/encoder.ts';
import { keptCount, layerShapesOf, pruneEncoderWeights } from '../../../shared/model/prune.ts';
import type { PruneAmount } from '../after.ts';

export type { PruneAmount, PruneEncoder } from '../after.ts';

const firstK = (k: number) => Array.from({ length: k }, (_, i) => i);

export function pruneEncoder(weights: EncoderWeights, amount: PruneAmount): EncoderWeights {
  const shapes = layerShapesOf(weights);
  return pruneEncoderWeights(weights, {
    ffn: shapes.map((s) => firstK(keptCount(s.ffn, amount.ffn))),
    heads: shapes.map((s) => firstK(keptCount(s.heads, amount.heads))),
  });
}
