/**
 * 05-pruning, before: the model as trained, every FFN neuron and every head kept.
 *
 * The seeded MiniLM-L6-shaped encoder (shared/model/encoder.ts): 6 layers, each with 12 heads and 1,536 FFN neurons;
 * 90.3 MB, of which the layers' MatMul weights are 42 MB and the run time. `pruneEncoder` is the identity here: the
 * unpruned model is the baseline every pruned one is compared with (fidelity = output cosine to it).
 */
import type { EncoderWeights } from '../../shared/model/encoder.ts';
import type { PruneAmount } from './after.ts';

export type { PruneAmount, PruneEncoder } from './after.ts';

/** Returns the weights unchanged: nothing pruned, whatever `amount` asks. */
export function pruneEncoder(weights: EncoderWeights, _amount: PruneAmount): EncoderWeights {
  return weights;
}
