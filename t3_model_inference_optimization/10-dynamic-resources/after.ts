/**
 * 10-dynamic-resources, after: sessions and intra-op threads planned from the cores and the load, never more threads
 * than cores in total, each session in a worker thread of its own, one request per session at a time.
 *
 * `planResources` (shared/model/resources.ts) turns { cores, concurrency, batch } into { sessions, intraOpThreads }
 * with sessions × threads ≤ cores: one session per request in flight up to the cores (independent runs scale almost
 * linearly; the threads inside one small run synchronise at every operator), the spare cores as intra-op threads,
 * and one wide session when a single big batch is all there is.
 *
 * Each session lives in a worker thread (`SessionWorker`, shared/model/session-worker.ts): in onnxruntime-node the
 * native run is synchronous on the thread that calls `run` (inside a setImmediate, not on libuv's pool), so sessions
 * in the main thread would run one after another and block its event loop; in N workers they run N at once and the
 * main thread only posts feeds and receives rows (moved, not copied). Each session serves one request at a time; the
 * others wait in a FIFO queue for the first free session, so the threads running at any moment never exceed the plan
 * and no request waits behind a busy worker while another is free.
 */
import { RagError } from '../../shared/errors.ts';
import { availableCores, planResources } from '../../shared/model/resources.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import { toWire } from '../../shared/model/session-worker.ts';
import { defaultOpenWorker, wireRows, type WorkerSession } from './data.ts';
import type { EncoderPool, PoolOptions } from './data.ts';

export type { EncoderPool, PoolOptions } from './data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const plan = planResources({ cores: opts.cores ?? availableCores(), concurrency: opts.concurrency, batch: opts.batch });
  const open = opts.openWorker ?? defaultOpenWorker;
  const opened = await Promise.allSettled(
    Array.from({ length: plan.sessions }, (_, i) =>
      open(model, { intraOpNumThreads: plan.intraOpThreads, interOpNumThreads: plan.interOpThreads, executionMode: 'sequential', graphOptimizationLevel: 'all', name: `session ${i + 1}/${plan.sessions}` }),
    ),
  );
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const failed = opened.find((o) => o.status === 'rejected');
  if (failed) {
    await Promise.all(sessions.map((s) => s.close()));
    throw failed.reason;
  }
  const free = [...sessions];
  const waiting: Array<(s: WorkerSession) => void> = [];
  let closed = false;
  const acquire = (): Promise<WorkerSession> => {
    const s = free.pop();
    return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
  };
  const release = (s: WorkerSession) => {
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
        const out = await session.run(toWire(tokenFeeds(lists)), { transfer: true });
        return wireRows(out[session.outputNames[0]], lists.length);
      } finally {
        release(session);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(sessions.map((s) => s.close()));
    },
  };
}
