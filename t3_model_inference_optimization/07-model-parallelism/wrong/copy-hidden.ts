/**
 * Wrong (on purpose): the micro-batches are posted without a transfer list ("transferring detaches the buffer; safer
 * to let postMessage copy it"). Nothing else reads those buffers after they are posted, so the copy buys nothing:
 * postMessage's structured clone copies every micro-batch's hidden states ([batch, seq, hidden] float32, 786 KB for 8
 * MiniLM texts of 64 tokens) from the main thread into stage 2, and the ids into stage 1.
 *
 * What differs from after.ts: `transfer` of PipelineParts: `() => []`, postMessage clones every buffer, instead of
 * `buffersOf(feeds)`.
 *
 * @rejected-with bytes of hidden_states
 */
import { createEncoderService as pipeline } from '../after.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions } from '../types.ts';
export type { StageThread } from '../after.ts';
export { STAGES } from '../after.ts';

export function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  return pipeline(opts, { transfer: () => [] });
}
