/**
 * EXERCISE 10-dynamic-resources — size the sessions and their threads for the load and the cores.
 *
 * As shipped it is before.ts: one session with onnxruntime's default threads (one per core), every request run on
 * it at once. Correct rows; under concurrent load the runs pull on one thread pool together. The checkpoint rejects
 * it.
 *
 * `openPool(model, { concurrency, batch, cores?, create? })` opens sessions with `create` (default
 * `ort.InferenceSession.create`) and returns a pool whose `embed(lists)` gives one row per token-id list; many calls
 * are in flight at once. `planResources` in shared/model/resources.ts turns cores, concurrency and batch into a plan.
 *
 * What must hold (checked by `npm run checkpoint -- 10-dynamic-resources`, for a machine of 4 cores):
 *   - the rows equal one session's within 1e-5, for 24 requests at once;
 *   - sessions × intra-op threads ≤ 4 for every load (a session left at onnxruntime's default counts 4);
 *   - 16 requests in flight of 2 texts → at least 4 sessions;
 *   - one request at a time of 64 texts → one session with 4 threads;
 *   - at most one run per session at a time, never more runs at once than sessions;
 *   - concurrency or batch not an integer ≥ 1 → RagError INVALID_INPUT.
 *
 * Then measure throughput per core and p99 at 1, 4 and 16 concurrent requests beside before and after:
 *   npm run t3 -- --only 10-dynamic-resources --impl exercise --quick
 * Stuck? npm run hint -- 10-dynamic-resources
 */
import { RagError } from '../../shared/errors.ts';
import { defaultCreate, outputRows } from '../../shared/model/providers.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderPool, PoolOptions } from './data.ts';

export type { EncoderPool, PoolOptions } from './data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  // TODO: one session, default threads, whatever the load. Plan sessions × threads from the cores and the load.
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
