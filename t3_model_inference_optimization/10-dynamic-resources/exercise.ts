/**
 * EXERCISE 10-dynamic-resources — size the sessions and their threads for the load and the cores.
 *
 * As shipped: one session in a worker thread (so its runs do not block this thread's event loop: in onnxruntime-node
 * `session.run` executes synchronously on the calling thread, inside a setImmediate, not on libuv's pool), left at
 * onnxruntime's default threads (one per core), every request posted to it at once, whatever the load. Correct rows;
 * the checkpoint rejects it.
 *
 * `openPool(model, { concurrency, batch, cores?, create?, openWorker? })` returns a pool whose `embed(lists)` gives
 * one row per token-id list; many calls are in flight at once. `create` opens a session in this thread
 * (`ort.InferenceSession.create`); `openWorker` opens one in a worker thread of its own (`SessionWorker.open`,
 * shared/model/session-worker.ts: `run(toWire(tokenFeeds(lists)))`, rows with `wireRows` from data.ts). Use the
 * ones in `opts` when given (the checkpoint counts through them). `planResources` in shared/model/resources.ts turns
 * cores, concurrency and batch into a plan.
 *
 * What must hold (checked by `npm run checkpoint -- 10-dynamic-resources`, for a machine of 4 cores):
 *   - the rows equal one session's within 1e-5, for 24 requests at once;
 *   - no run on the caller's thread (sessions that can run at once, and an event loop that is never blocked);
 *   - sessions × intra-op threads ≤ 4 for every load (a session left at onnxruntime's default counts 4);
 *   - 16 requests in flight of 2 texts → at least 4 sessions;
 *   - one request at a time of 64 texts → one session with 4 threads;
 *   - at most one request per session at a time, never more at once than sessions;
 *   - concurrency or batch not an integer ≥ 1 → RagError INVALID_INPUT.
 *
 * Then measure throughput per core and p99 at 1, 4 and 16 concurrent requests beside before and after:
 *   npm run t3 -- --only 10-dynamic-resources --impl exercise --quick
 * Stuck? npm run hint -- 10-dynamic-resources
 */
import { RagError } from '../../shared/errors.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import { toWire } from '../../shared/model/session-worker.ts';
import { defaultOpenWorker, wireRows } from './data.ts';
import type { EncoderPool, PoolOptions } from './data.ts';

export type { EncoderPool, PoolOptions } from './data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  // TODO: one session at the default threads, every request sent to it at once, whatever the load. Plan sessions ×
  // threads from the cores and the load, and give each request a free session (or let it wait).
  const session = await (opts.openWorker ?? defaultOpenWorker)(model, {});
  let closed = false;
  return {
    sessions: 1,
    intraOpThreads: 0,
    async embed(lists) {
      if (closed) throw new RagError('INVALID_INPUT', 'EncoderPool: embed after close');
      if (lists.length === 0) return [];
      const out = await session.run(toWire(tokenFeeds(lists)), { transfer: true });
      return wireRows(out[session.outputNames[0]], lists.length);
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.close();
    },
  };
}
