/**
 * Wrong (on purpose): "the first stage also runs the embeddings, so give it fewer layers": stage 1 gets layer 0,
 * stage 2 layers 1-5. The embeddings are a table lookup and a LayerNorm, nearly free; the layers are the cost. So
 * stage 2 does five times stage 1's work, stage 1 idles most of the time, and the pipeline delivers one micro-batch
 * per five-layer stage time instead of per three-layer one.
 *
 * What differs from after.ts: `cuts` of PipelineParts: the layers cut after layer 0 (1 + 5, "the first stage has the
 * embeddings too: give it less") instead of `evenCuts` (3 + 3).
 *
 * @rejected-with run 1 and 5 layers
 */
import { createEncoderService as pipeline } from '../after.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions } from '../types.ts';
export type { StageThread } from '../after.ts';
export { STAGES } from '../after.ts';

export function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  return pipeline(opts, { cuts: () => [1] });
}
