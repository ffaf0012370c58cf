/**
 * Wrong (on purpose): a session per core, each in its own worker thread and left at onnxruntime's default thread
 * count, the "one worker per core" habit. The default is one intra-op thread per core, per session: N workers run
 * N × cores threads on cores cores, really at once, and onnxruntime's threads spin while they wait, taking CPU from
 * the threads doing the work.
 *
 * What differs from after.ts: `intraOpNumThreads` is not set (and the number of sessions is min(concurrency, cores)).
 *
 * @rejected-with intra-op threads on 4 cores
 */
import { RagError } from '../../../shared/errors.ts';
import { availableCores } from '../../../shared/model/resources.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import { toWire } from '../../../shared/model/session-worker.ts';
import { defaultOpenWorker, wireRows, type EncoderPool, type PoolOptions, type WorkerSession } from '../data.ts';

export type { EncoderPool, PoolOptions } from '../data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1 || !Number.isInteger(opts.batch) || opts.batch < 1) {
    throw new RagError('INVALID_INPUT', 'openPool: concurrency and batch must be integers ≥ 1');
  }
  const n = Math.min(opts.concurrency, opts.cores ?? availableCores());
  const open = opts.openWorker ?? defaultOpenWorker;
  const sessions = await Promise.all(Array.from({ length: n }, () => open(model, {})));
  const free = [...sessions];
  const waiting: Array<(s: WorkerSession) => void> = [];
  return {
    sessions: n,
    intraOpThreads: 0,
    async embed(lists) {
      if (lists.length === 0) return [];
      const s = free.pop() ?? (await new Promise<WorkerSession>((r) => waiting.push(r)));
      try {
        const out = await s.run(toWire(tokenFeeds(lists)), { transfer: true });
        return wireRows(out[s.outputNames[0]], lists.length);
      } finally {
        const next = waiting.shift();
        if (next) next(s);
        else free.push(s);
      }
    },
    close: async () => {
      await Promise.all(sessions.map((s) => s.close()));
    },
  };
}
