/**
 * 08-batching, before: one request, one model run. Each request calls `runBatch([its item])` (one `session.run`
 * with a batch of one) the moment it arrives, the way a handler is first written:
 *
 *     app.post('/embed', async (req) => (await runBatch([tokenize(req.body.text)]))[0]);
 *
 * Correct, no padding, no waiting. Under load, though, every run carries one text, and concurrent requests queue
 * behind one another's runs (onnxruntime-node's run holds the thread), each paying the full per-run cost for a
 * matrix product of a few rows.
 */
import { abortError } from '../../shared/model/batcher.ts';
import { RagError } from '../../shared/errors.ts';
import type { BatchSettings, RequestEmbedder, RunBatch, TokenItem } from './after.ts';

export type { BatchSettings, RequestEmbedder, RunBatch, TokenItem } from './after.ts';
export { SETTINGS } from './after.ts';

/** `settings` are ignored: nothing is batched. */
export function createEmbedder<I extends TokenItem, O>(runBatch: RunBatch<I, O>, _settings: BatchSettings = {}): RequestEmbedder<I, O> {
  let closed = false;
  const running = new Set<Promise<unknown>>();
  return {
    embed(item, opts = {}) {
      if (closed) return Promise.reject(new RagError('UNAVAILABLE', 'closed, no new requests'));
      if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal, 'the request was aborted before it ran'));
      const p = (async () => {
        const rows = await runBatch([item]);
        if (!Array.isArray(rows) || rows.length !== 1) throw new Error(`runBatch returned ${Array.isArray(rows) ? rows.length : typeof rows} outputs for 1 item`);
        return rows[0];
      })();
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
