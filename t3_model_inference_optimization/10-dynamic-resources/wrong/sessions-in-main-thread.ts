/**
 * Wrong (on purpose): the planned sessions and threads and the free-session queue of after.ts, but every session
 * opened in the main thread with `ort.InferenceSession.create`, on the belief that `session.run` is asynchronous
 * and onnxruntime-node runs it on libuv's thread pool, so that several sessions run at once. It does not: the
 * backend (node_modules/onnxruntime-node/dist/backend.js) calls the native run synchronously on this thread inside a
 * setImmediate. The 4 "concurrent" sessions run one after another, each on its one planned thread (a quarter of
 * the cores used), and the event loop is blocked during every run. (This lesson itself shipped this as after.ts
 * until it was measured: a 706 ms run let a 1 ms setInterval tick once.)
 *
 * What differs from after.ts: `create` (a session in this thread) instead of `openWorker` (a session in a worker).
 *
 * @rejected-with in the main thread
 */
import type * as ort from 'onnxruntime-node';
import { RagError } from '../../../shared/errors.ts';
import { defaultCreate, outputRows } from '../../../shared/model/providers.ts';
import { availableCores, planResources } from '../../../shared/model/resources.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderPool, PoolOptions } from '../data.ts';

export type { EncoderPool, PoolOptions } from '../data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const plan = planResources({ cores: opts.cores ?? availableCores(), concurrency: opts.concurrency, batch: opts.batch });
  const create = opts.create ?? defaultCreate;
  const sessions: ort.InferenceSession[] = [];
  for (let i = 0; i < plan.sessions; i++) {
    sessions.push(await create(model, { executionProviders: ['cpu'], intraOpNumThreads: plan.intraOpThreads, interOpNumThreads: plan.interOpThreads, executionMode: 'sequential', graphOptimizationLevel: 'all' }));
  }
  const free = [...sessions];
  const waiting: Array<(s: ort.InferenceSession) => void> = [];
  let closed = false;
  return {
    sessions: plan.sessions,
    intraOpThreads: plan.intraOpThreads,
    async embed(lists) {
      if (closed) throw new RagError('INVALID_INPUT', 'EncoderPool: embed after close');
      if (lists.length === 0) return [];
      const s = free.pop() ?? (await new Promise<ort.InferenceSession>((r) => waiting.push(r)));
      try {
        const out = await s.run(tokenFeeds(lists));
        return outputRows(out[s.outputNames[0]], lists.length);
      } finally {
        const next = waiting.shift();
        if (next) next(s);
        else free.push(s);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}
