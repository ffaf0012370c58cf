/**
 * 10-dynamic-resources, after: sessions and intra-op threads planned from the cores and the load, never more threads
 * than cores in total, and one run per session at a time.
 *
 * `planResources` (shared/model/resources.ts) turns { cores, concurrency, batch } into { sessions, intraOpThreads }
 * with sessions × threads ≤ cores: one session per request in flight up to the cores (independent runs scale almost
 * linearly; the threads inside one small run synchronise at every operator), the spare cores as intra-op threads,
 * and one wide session when a single big batch is all there is. Each session serves one request at a time; the
 * others wait in a FIFO queue for the first free session, so the threads running at any moment never exceed the
 * plan (onnxruntime would accept several runs on one session at once, each pulling on the same thread pool).
 */
import { RagError } from '../../shared/errors.ts';
import type * as ort from 'onnxruntime-node';
import { defaultCreate, outputRows } from '../../shared/model/providers.ts';
import { availableCores, planResources } from '../../shared/model/resources.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderPool, PoolOptions } from './data.ts';

export type { EncoderPool, PoolOptions } from './data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const plan = planResources({ cores: opts.cores ?? availableCores(), concurrency: opts.concurrency, batch: opts.batch });
  const create = opts.create ?? defaultCreate;
  const sessions: ort.InferenceSession[] = [];
  for (let i = 0; i < plan.sessions; i++) {
    sessions.push(
      await create(model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: plan.intraOpThreads,
        interOpNumThreads: plan.interOpThreads,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      }),
    );
  }
  const free = [...sessions];
  const waiting: Array<(s: ort.InferenceSession) => void> = [];
  let closed = false;
  const acquire = (): Promise<ort.InferenceSession> => {
    const s = free.pop();
    return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
  };
  const release = (s: ort.InferenceSession) => {
    const next = waiting.shift();
    if (next) next(s);
    else free.push(s);
  };
  return {
    sessions: plan.sessions,
    intraOpThreads: plan.intraOpThreads,
    async embed(lists) {
      if (closed) throw new RagError('INVALID_INPUT', 'EncoderPool: embed after close');
      if (lists.length === 0) return [];
      const session = await acquire();
      try {
        const out = await session.run(tokenFeeds(lists));
        return outputRows(out[session.outputNames[0]], lists.length);
      } finally {
        release(session);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}
