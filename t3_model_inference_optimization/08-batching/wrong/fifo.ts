/**
 * Wrong (on purpose): requests are batched first come, first served, whatever their length. Each batch is padded to
 * its longest text, and with lengths from 8 to 128 tokens (skewed short) nearly every batch holds one long text: the
 * short ones, most of the traffic, are computed at its length. The batches are full and the budget holds; the model
 * just computes two to three times the tokens it has to.
 *
 * What differs from after.ts: one FIFO queue (buckets false); the timer and the token budget are after.ts's.
 *
 * @rejected-with their real tokens (first-come batches
 */
import { DynamicBatcher } from '../../../shared/model/batcher.ts';
import { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  return new DynamicBatcher<I, O>(runBatch, { ...SETTINGS, ...settings, buckets: false });
}
