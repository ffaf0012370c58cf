/**
 * Wrong (on purpose): batches are bounded by a request count only. Length buckets keep similar lengths together, but a
 * bucket of 32 long texts (or one text of 512 tokens among 31 short ones, without buckets) is one run of thousands of
 * padded tokens: on a CPU that run takes as long as all its texts one after another, and every request in it, and
 * every request queued behind it, waits for all of it. Text-embeddings-inference bounds a batch by
 * `--max-batch-tokens` for this reason.
 *
 * What differs from after.ts: no padded-token budget (maxTokens Infinity); the timer and buckets are after.ts's.
 *
 * @rejected-with over the 512-token budget
 */
import { DynamicBatcher } from '../../../shared/model/batcher.ts';
import { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  return new DynamicBatcher<I, O>(runBatch, { ...SETTINGS, ...settings, maxTokens: Infinity });
}
