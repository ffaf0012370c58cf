/**
 * Wrong (on purpose): one session (in a worker thread) with every core as intra-op threads, whatever the load, and a
 * queue in front of it. Never oversubscribed, the event loop stays free, and right for one big batch at a time; but
 * with many small requests in flight they go through one run at a time, and the run's threads spend their time
 * synchronising at every operator of a small batch instead of running independent requests side by side.
 *
 * What differs from after.ts: sessions = 1, threads = cores, instead of planning from the concurrency.
 *
 * @rejected-with for 16 concurrent requests of 2 texts on 4 cores
 */
import { RagError } from '../../../shared/errors.ts';
import { availableCores } from '../../../shared/model/resources.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import { toWire } from '../../../shared/model/session-worker.ts';
import { defaultOpenWorker, wireRows, type EncoderPool, type PoolOptions } from '../data.ts';

export type { EncoderPool, PoolOptions } from '../data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1 || !Number.isInteger(opts.batch) || opts.batch < 1) {
    throw new RagError('INVALID_INPUT', 'openPool: concurrency and batch must be integers ≥ 1');
  }
  const cores = opts.cores ?? availableCores();
  const session = await (opts.openWorker ?? defaultOpenWorker)(model, { intraOpNumThreads: cores, interOpNumThreads: 1 });
  let busy = false;
  const waiting: Array<() => void> = [];
  return {
    sessions: 1,
    intraOpThreads: cores,
    async embed(lists) {
      if (lists.length === 0) return [];
      if (busy) await new Promise<void>((r) => waiting.push(r));
      busy = true;
      try {
        const out = await session.run(toWire(tokenFeeds(lists)), { transfer: true });
        return wireRows(out[session.outputNames[0]], lists.length);
      } finally {
        const next = waiting.shift();
        if (next) next();
        else busy = false;
      }
    },
    close: () => session.close(),
  };
}
