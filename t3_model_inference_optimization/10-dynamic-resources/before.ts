/**
 * 10-dynamic-resources, before: one session with onnxruntime's default threads, in the main thread, every request
 * run on it.
 *
 * The way it is usually written: `InferenceSession.create(model)` with no thread settings, and each request calls
 * `session.run`. onnxruntime's default intra-op thread count is the machine's cores. And in onnxruntime-node 1.30
 * `run` is not asynchronous in the way it looks: it returns a promise, but the native run happens synchronously on
 * this thread inside a setImmediate (node_modules/onnxruntime-node/dist/backend.js), not on libuv's thread pool. So
 * concurrent requests run one after another, each spread over every core's intra-op thread (which synchronise at
 * every operator of a small batch), and while each runs the event loop is blocked: no timer fires, no socket is read.
 * With one request at a time it is fine; the load is what it was not built for.
 */
import { RagError } from '../../shared/errors.ts';
import { defaultCreate, outputRows } from '../../shared/model/providers.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderPool, PoolOptions } from './data.ts';

export type { EncoderPool, PoolOptions } from './data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const session = await (opts.create ?? defaultCreate)(model, { executionProviders: ['cpu'] });
  let closed = false;
  return {
    sessions: 1,
    intraOpThreads: 0,
    async embed(lists) {
      if (closed) throw new RagError('INVALID_INPUT', 'EncoderPool: embed after close');
      if (lists.length === 0) return [];
      const out = await session.run(tokenFeeds(lists));
      return outputRows(out[session.outputNames[0]], lists.length);
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
