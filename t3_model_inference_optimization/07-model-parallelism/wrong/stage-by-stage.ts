/**
 * Wrong (on purpose): one loop drains the queue, and for each micro-batch awaits stage 1, then stage 2, then takes
 * the next. It looks like a pipeline (two threads, two stages, a queue) but only one thread ever has work: stage 1
 * sits idle while stage 2 finishes micro-batch k, because k+1 is not handed over until then. Throughput is the
 * whole model on one thread, plus the hops.
 *
 * What differs from after.ts: `inFlight` of PipelineParts: one micro-batch at a time, through stage 1 and stage 2
 * before the next starts, instead of up to `window`.
 *
 * @rejected-with stage threads worked at once
 */
import { createEncoderService as pipeline } from '../after.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions } from '../types.ts';
export type { StageThread } from '../after.ts';
export { STAGES } from '../after.ts';

export function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  return pipeline(opts, { inFlight: () => 1 });
}
