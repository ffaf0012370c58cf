/**
 * Wrong (on purpose): the planned sessions and threads, each in a worker thread, but requests dealt to the sessions
 * in turn without waiting for one to be free. Under a burst, several requests land on the same session at once: a
 * worker runs one at a time, so they queue inside it behind a slow one while another session may sit idle, and the
 * pool cannot see or reorder that queue.
 *
 * What differs from after.ts: round-robin dispatch instead of a free-session queue.
 *
 * @rejected-with requests at once on one session
 */
import { availableCores, planResources } from '../../../shared/model/resources.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import { toWire } from '../../../shared/model/session-worker.ts';
import { defaultOpenWorker, wireRows, type EncoderPool, type PoolOptions } from '../data.ts';

export type { EncoderPool, PoolOptions } from '../data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const plan = planResources({ cores: opts.cores ?? availableCores(), concurrency: opts.concurrency, batch: opts.batch });
  const open = opts.openWorker ?? defaultOpenWorker;
  const sessions = await Promise.all(Array.from({ length: plan.sessions }, () => open(model, { intraOpNumThreads: plan.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential' })));
  let next = 0;
  return {
    sessions: plan.sessions,
    intraOpThreads: plan.intraOpThreads,
    async embed(lists) {
      if (lists.length === 0) return [];
      const s = sessions[next++ % sessions.length];
      const out = await s.run(toWire(tokenFeeds(lists)), { transfer: true });
      return wireRows(out[s.outputNames[0]], lists.length);
    },
    close: async () => {
      await Promise.all(sessions.map((s) => s.close()));
    },
  };
}
