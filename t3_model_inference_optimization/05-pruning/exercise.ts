/**
 * EXERCISE 05-pruning — remove the least important FFN neurons and attention heads from every layer, so the model
 * gets smaller and faster and its outputs stay close.
 *
 * As shipped it returns the weights unchanged: exact outputs, full size. The checkpoint accepts the outputs and
 * rejects the shapes.
 *
 * `pruneEncoder(weights, amount)` gets the encoder's weights (shared/model/encoder.ts: MatMul weights [in, out], the
 * graph computes x·W) and the share of each layer's FFN neurons (`amount.ffn`) and heads (`amount.heads`) to remove,
 * and returns weights that `buildEncoderFromWeights` builds. `shared/model/prune.ts` has the tools (importance scores,
 * `topIndices`, `keptCount`, and `pruneEncoderWeights`, which does the surgery for the indices you choose); what is
 * yours is which neurons and heads to keep, and that they go whole.
 *
 * What must hold (checked by `npm run checkpoint -- 05-pruning`, on a small encoder whose neurons and heads differ in
 * importance, as a trained model's do):
 *   - each layer keeps keptCount(n, share) = round(n · (1 − share)) FFN neurons and heads, and its matrices shrink to
 *     match: ffn.up [H, F'] and its bias [F'], ffn.down [F', H]; attn.q/k/v [H, h'·d] and biases, attn.out [h'·d, H];
 *     `layerShapes` says so;
 *   - a kept neuron keeps its ffn.up column, bias and ffn.down row together (same for a head's q/k/v columns and
 *     attn.out rows), each exactly as it was;
 *   - every other tensor is unchanged, and at 50% / 50% the layers keep ≤ 55% of their parameters;
 *   - the output cosine to the unpruned model is ≥ 0.988 on average over 300 seeded inputs and ≥ 0.94 for each, at
 *     50% of the neurons and 50% of the heads removed.
 *
 * Then measure size, latency at batch 8/32 and fidelity beside before, after and the other choices:
 *   npm run t3 -- --only 05-pruning --impl exercise --quick
 * Stuck? npm run hint -- 05-pruning
 */
import type { EncoderWeights } from '../../shared/model/encoder.ts';

/** Share of each layer's FFN neurons and of its attention heads to remove, each in [0, 1). */
export interface PruneAmount {
  ffn: number;
  heads: number;
}

/** Encoder weights → weights with `amount` of every layer's FFN neurons and heads removed (buildEncoderFromWeights builds them). */
export type PruneEncoder = (weights: EncoderWeights, amount: PruneAmount) => EncoderWeights;

export function pruneEncoder(weights: EncoderWeights, _amount: PruneAmount): EncoderWeights {
  return weights;
}
