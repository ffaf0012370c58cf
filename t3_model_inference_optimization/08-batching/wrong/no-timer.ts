/**
 * Wrong (on purpose): a batch starts only when it is full. No timer: a batch that does not fill waits for more
 * traffic, so at low load a lone request waits until enough others happen to arrive, or for ever. Under a steady
 * burst it looks perfect (every batch full, the best throughput), which is why it survives a load test.
 *
 * What differs from after.ts: maxWaitMs is Infinity (the batcher's "wait for a full batch", meant for bulk jobs that
 * end with close()); buckets and the token budget are after.ts's.
 *
 * @rejected-with a lone request was still waiting
 */
import { DynamicBatcher } from '../../../shared/model/batcher.ts';
import { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  return new DynamicBatcher<I, O>(runBatch, { ...SETTINGS, ...settings, maxWaitMs: Infinity });
}
