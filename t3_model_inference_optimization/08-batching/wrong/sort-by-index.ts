/**
 * Wrong (on purpose): sorts the waiting requests by length to cut padding, runs them in that order, and then hands
 * row i to the i-th caller in ARRIVAL order. The batch function returns rows in the order of the items it was given,
 * which after the sort is no longer the callers' order: most callers get another request's embedding. Nothing fails,
 * every request gets a row of the right shape, and a test with equal-length requests (where sorting changes
 * nothing) passes.
 *
 * What differs from after.ts: its own small batcher (a window of maxBatch requests or maxWaitMs, sorted by length,
 * cut by the token budget), with results routed by position instead of by request.
 *
 * @rejected-with got the row of request
 */
import { abortError, tokenCount } from '../../../shared/model/batcher.ts';
import { RagError } from '../../../shared/errors.ts';
import { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

export { SETTINGS, type BatchSettings, type RequestEmbedder, type RunBatch, type TokenItem } from '../after.ts';

interface Waiter<I, O> {
  item: I;
  resolve: (row: O) => void;
  reject: (err: unknown) => void;
}

export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, settings: BatchSettings = {}): RequestEmbedder<I, O> {
  const { maxBatch, maxWaitMs, maxTokens } = { ...SETTINGS, ...settings };
  let waiting: Waiter<I, O>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const running = new Set<Promise<void>>();

  async function run(callers: Waiter<I, O>[]): Promise<void> {
    const sorted = callers.map((c) => c.item).sort((a, b) => tokenCount(a) - tokenCount(b));
    for (let start = 0; start < sorted.length; ) {
      let end = start + 1;
      while (end < sorted.length && end - start < maxBatch && (end - start + 1) * Math.max(1, tokenCount(sorted[end])) <= maxTokens) end++;
      try {
        const rows = await runBatch(sorted.slice(start, end));
        for (let i = start; i < end; i++) callers[i].resolve(rows[i - start]); // row of sorted[i], given to the i-th caller
      } catch (err) {
        for (let i = start; i < end; i++) callers[i].reject(err);
      }
      start = end;
    }
  }

  function flush(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (waiting.length === 0) return;
    const p = run(waiting);
    waiting = [];
    running.add(p);
    void p.then(() => running.delete(p));
  }

  return {
    embed(item, opts = {}) {
      if (closed) return Promise.reject(new RagError('UNAVAILABLE', 'closed, no new requests'));
      if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal, 'aborted'));
      return new Promise<O>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        if (waiting.length >= maxBatch) flush();
        else if (timer === undefined) timer = setTimeout(flush, maxWaitMs);
      });
    },
    async close() {
      closed = true;
      flush();
      await Promise.all([...running]);
    },
  };
}
