/**
 * EXERCISE 08-batching — serve many concurrent requests with few model runs, without making any of them wait long.
 *
 * As shipped it is one run per request (before.ts): correct rows, no padding, and a `session.run` with a batch of
 * one for every caller. The checkpoint accepts the rows and rejects the grouping.
 *
 * `createEmbedder(runBatch, settings)` gets a batch-first model call (`runBatch(items)` → one output per item, in
 * order: one padded `session.run` in the bench) and returns `{ embed(item, { signal }), close() }`. An item is a
 * token-id list or an object with `tokens` (`tokenCount` in shared/model/batcher.ts measures both). Every setting
 * has its default in `SETTINGS`; the checkpoint passes its own.
 *
 * What must hold (checked by `npm run checkpoint -- 08-batching`, on a fake model that records its batches, on
 * vitest's fake clock):
 *   - every caller gets the output of its own item, whatever order the batches ran in;
 *   - no batch holds more than `maxBatch` items or more than `maxTokens` padded tokens (items × the longest item's
 *     token count); an item longer than the budget runs alone;
 *   - a lone request runs within `maxWaitMs`; requests arriving within `maxWaitMs` of the first share its run;
 *     requests made together run as full batches at once;
 *   - on 128 requests of 8-128 tokens (skewed short), the batches' padded tokens are at most 1.3× the real tokens;
 *   - a request whose signal aborts while it waits rejects with an AbortError (name 'AbortError'), never runs, and
 *     frees its place in the batch; one already aborted rejects at once;
 *   - a run that fails rejects exactly its own callers with its error, and later requests are served;
 *   - close() serves what waits (without waiting for company), then refuses new requests with an error saying closed;
 *   - on a real tiny encoder and on the static SIF graph, every batched row equals the row of its text run alone
 *     within 1e-5.
 *
 * Write the batcher here (the engine's own is shared/model/batcher.ts: read it after, or when hint 3 sends you).
 * Then measure throughput and p50/p99 latency under concurrent load beside before, after and first-come batching:
 *   npm run t3 -- --only 08-batching --impl exercise --quick
 * Stuck? npm run hint -- 08-batching
 */
import { abortError } from '../../shared/model/batcher.ts';
import type { RunBatch, TokenItem } from '../../shared/model/batcher.ts';

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

/** The settings after.ts uses (see the README for why the token budget is small on a CPU). */
export const SETTINGS: Required<BatchSettings> = { maxBatch: 32, maxWaitMs: 0, maxTokens: 256, buckets: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512] };

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  const _s = { ...SETTINGS, ...settings }; // TODO: decide when waiting requests become one run, and which share it
  let closed = false;
  const running = new Set<Promise<unknown>>();
  return {
    embed(item, opts = {}) {
      if (closed) return Promise.reject(new Error('closed, no new requests'));
      if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal, 'the request was aborted before it ran'));
      const p = (async () => (await runBatch([item]))[0])();
      running.add(p);
      void p.then(() => running.delete(p), () => running.delete(p));
      return p;
    },
    async close() {
      closed = true;
      await Promise.allSettled([...running]);
    },
  };
}
