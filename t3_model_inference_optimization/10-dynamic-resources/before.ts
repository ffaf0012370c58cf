/**
 * 10-dynamic-resources, before: one session with onnxruntime's default threads, every request run on it at once.
 *
 * The way it is usually written: `InferenceSession.create(model)` with no thread settings, and each request calls
 * `session.run`. onnxruntime's default intra-op thread count is the machine's cores; onnxruntime-node runs each
 * `run` on libuv's thread pool (4 threads by default), so under concurrent load up to 4 runs pull on that one
 * session's thread pool at once, and its threads spin while they wait for work: more runnable threads than cores.
 * With one request at a time it is fine; the load is what it was not sized for.
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
