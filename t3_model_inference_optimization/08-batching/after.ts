/**
 * 08-batching, after: dynamic batching. Requests wait a moment for company, similar lengths share a batch, and one
 * padded `session.run` serves them all.
 *
 * `createEmbedder(runBatch, settings)` puts the engine's `DynamicBatcher` (shared/model/batcher.ts) in front of a
 * batch-first model call. What it decides, per batch:
 *
 *   - **when** a batch starts: when a run slot is free (one session, one run at a time) and either its length
 *     bucket can fill a batch or the oldest waiting request has waited `maxWaitMs`. While a run is busy, requests
 *     queue for the next batch, so under load batches grow by themselves; the timer bounds what a lone request
 *     pays at low load (it never waits for a full batch that may not come; here it does not wait at all, see
 *     SETTINGS);
 *   - **who** shares it: requests of the same length bucket (8, 16, 24, 32, 48, 64, 96, 128… tokens), up to
 *     `maxBatch` requests and `maxTokens` padded tokens (requests × the longest one, what the padded run computes).
 *     A padded run costs its longest text for every row: a 9-token query batched with a 128-token one costs 128
 *     tokens of compute. On a CPU, where the matrix products already run well on one text's tokens, that padding can
 *     eat more than batching saves; buckets keep it to a sixth or so, and the budget keeps any one run short;
 *   - **whose** row is whose: each caller is resolved with the row of its own item, and a failing run rejects only
 *     its own callers. A request aborted while it waits leaves the queue (its place goes to the next request) and
 *     rejects with an AbortError.
 */
import { DynamicBatcher, type RunBatch, type TokenItem } from '../../shared/model/batcher.ts';

export type { RunBatch, TokenItem } from '../../shared/model/batcher.ts';

/** How requests become batches. Every field has the default in `SETTINGS`. */
export interface BatchSettings {
  /** Most requests in one batch. */
  maxBatch?: number;
  /** How long the oldest waiting request may wait for company, in ms. */
  maxWaitMs?: number;
  /** Most padded tokens (requests × longest) in one batch. */
  maxTokens?: number;
  /** Length bucket bounds, ascending; `false` for one first-in-first-out queue. */
  buckets?: readonly number[] | false;
}

/** One model behind many concurrent callers. */
export interface RequestEmbedder<I, O> {
  /** One request's item (its token ids) → its own output row. Rejects with an AbortError when `signal` aborts first. */
  embed(item: I, opts?: { signal?: AbortSignal }): Promise<O>;
  /** Serve what is waiting, refuse new requests, resolve when every run settled. */
  close(): Promise<void>;
}

/**
 * The lesson's settings, for the MiniLM-shaped encoder on a CPU with one intra-op thread, where a run costs about
 * 0.2 ms per padded token: a 256-token batch is ~50 ms, as long as a request may take at p99. So on a CPU the token
 * budget, not maxBatch, is what bounds latency (32 requests fit only when they are 8 tokens each). maxWaitMs 0:
 * onnxruntime-node's run holds the thread, so requests that arrive during a run queue for the next batch anyway,
 * and a wait at idle only adds latency (measured in the README: 2 ms cost up to half the throughput at one client,
 * and bought nothing under load). The engine's defaults in batcher.ts (32 / 2 ms / 16,384 tokens, the last
 * text-embeddings-inference's) suit a GPU or a worker, where runs do not block and one run of 16k tokens is short.
 */
export const SETTINGS: Required<BatchSettings> = { maxBatch: 32, maxWaitMs: 0, maxTokens: 256, buckets: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512] };

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  return new DynamicBatcher<I, O>(runBatch, { ...SETTINGS, ...settings });
}
