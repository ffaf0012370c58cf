/**
 * Wrong (on purpose): every micro-batch goes straight into stage 1 the moment it arrives ("the threads have queues of
 * their own, why keep one here?"). The stages still overlap, but nothing bounds what is handed to the threads: under
 * a burst every micro-batch sits in stage 1's message queue at once, each one's hidden states pile up between the
 * stages, and a request that arrives now waits behind all of them, with no way left to shed or reorder load.
 *
 * What differs from after.ts: `inFlight` of PipelineParts: no bound; every micro-batch is posted at once, instead of
 * at most `window`.
 *
 * @rejected-with micro-batches in flight at once, bound 3
 */
import { createEncoderService as pipeline } from '../after.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions } from '../types.ts';
export type { StageThread } from '../after.ts';
export { STAGES } from '../after.ts';

export function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  return pipeline(opts, { inFlight: () => Infinity });
}
