/**
 * 05-pruning, after: whole FFN neurons and whole attention heads removed from every layer, the least important ones
 * first, so every matrix they lived in shrinks.
 *
 * An FFN neuron j is three things that only work together: column j of ffn.up [H, F] (how it reads the layer's
 * input), entry j of ffn.up's bias, and row j of ffn.down [F, H] (how it writes the output). Its importance is
 * ‖up[:, j]‖ · ‖down[j, :]‖: a neuron that reads strongly but writes nearly nothing (or the reverse) adds little.
 * A head h is its d = hidden/heads columns of attn.q, k, v (+ biases) and the same rows of attn.out; its importance is
 * ‖v[:, h]‖ · ‖out[h, :]‖ (q and k decide where it looks, v and out how much it adds). Each layer keeps its
 * round(n · (1 − share)) most important neurons and heads.
 *
 * Removed, not zeroed: the kept columns and rows are copied into smaller matrices (ffn.up [H, F'], ffn.down [F', H],
 * q/k/v [H, h'·d], out [h'·d, H]), so the model file is smaller and every MatMul, the attention scores and the GELU
 * do less work. Zeroing the same weights in place would change the outputs just as much and save nothing: same bytes,
 * same multiplies (dense kernels multiply zeros as fast as anything else).
 *
 * The graph surgery and the importance scores are the engine's (shared/model/prune.ts); the decision this lesson is
 * about is which pieces to keep and that they go whole.
 */
import type { EncoderWeights } from '../../shared/model/encoder.ts';
import { ffnNeuronImportance, headImportance, keptCount, layerShapesOf, pruneEncoderWeights, topIndices } from '../../shared/model/prune.ts';

/** Share of each layer's FFN neurons and of its attention heads to remove, each in [0, 1). */
export interface PruneAmount {
  ffn: number;
  heads: number;
}

/** Encoder weights → weights with `amount` of every layer's FFN neurons and heads removed (buildEncoderFromWeights builds them). */
export type PruneEncoder = (weights: EncoderWeights, amount: PruneAmount) => EncoderWeights;

export function pruneEncoder(weights: EncoderWeights, amount: PruneAmount): EncoderWeights {
  const shapes = layerShapesOf(weights);
  return pruneEncoderWeights(weights, {
    ffn: shapes.map((s, i) => topIndices(ffnNeuronImportance(weights, i), keptCount(s.ffn, amount.ffn))),
    heads: shapes.map((s, i) => topIndices(headImportance(weights, i), keptCount(s.heads, amount.heads))),
  });
}
