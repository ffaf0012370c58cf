/**
 * A bulkhead: a bound on the calls in flight to one upstream (one shard, the embedder), with a short queue in front.
 * A slow upstream fills its own bulkhead and further calls to it are refused at once (`OVERLOADED`, "bulkhead
 * full") instead of piling up and holding the caller's requests, sockets and memory; calls to the other upstreams
 * go through their own bulkheads, untouched (the name comes from a ship's watertight compartments).
 *
 *     const shard = withBulkhead(httpRpcClient(url), { maxConcurrent: 16, maxQueue: 0 });
 *     await shard.call('search', req, { deadlineMs: 400 });   // refused at once when 16 are in flight
 *     shard.counts;                                          // { calls, rejected, inFlight, maxInFlight, queued }
 *
 * A queued call waits for a slot at most for its own budget (`deadlineMs`) or until its signal fires, and is sent
 * with the budget that is left after the wait, never the one it arrived with. One bulkhead per upstream: a single
 * one shared by every shard lets the slow shard's calls take every slot (t4/08's wrong/shared-bulkhead.ts).
 */
import { RpcError, type CallOptions, type RpcClient } from './rpc.ts';

export interface BulkheadOptions {
  /** Calls in flight to the upstream at most. */
  maxConcurrent: number;
  /** Calls waiting for a slot at most; beyond it a call is refused at once. Default 0 (fail fast). */
  maxQueue?: number;
  /** Monotonic ms (the wait is taken off the budget); default performance.now. */
  now?: () => number;
}

export interface BulkheadCounts {
  /** Calls made through the bulkhead. */
  calls: number;
  /** Refused: bulkhead and queue full, or the budget ran out while queued. */
  rejected: number;
  /** In flight to the upstream right now. */
  inFlight: number;
  /** The most that were ever in flight at once (≤ maxConcurrent). */
  maxInFlight: number;
  /** Waiting for a slot right now. */
  queued: number;
}

export interface BulkheadClient extends RpcClient {
  readonly counts: BulkheadCounts;
  readonly maxConcurrent: number;
}

export function isBulkheadFull(err: unknown): boolean {
  return err instanceof RpcError && err.code === 'OVERLOADED' && /bulkhead/.test(err.message);
}

export function withBulkhead(client: RpcClient, opts: BulkheadOptions): BulkheadClient {
  if (!(opts.maxConcurrent >= 1)) throw new RangeError(`maxConcurrent must be ≥ 1, got ${opts.maxConcurrent}`);
  const maxQueue = opts.maxQueue ?? 0;
  const now = opts.now ?? (() => performance.now());
  const counts: BulkheadCounts = { calls: 0, rejected: 0, inFlight: 0, maxInFlight: 0, queued: 0 };
  const waiting: Array<() => void> = [];
  const full = (why: string) => {
    counts.rejected++;
    return new RpcError('OVERLOADED', `bulkhead full for ${client.target}: ${why}`, client.target, 100);
  };
  const release = () => {
    counts.inFlight--;
    const next = waiting.shift();
    if (next) next();
  };
  /** Resolves once a slot is taken (inFlight already counted), rejects when the wait is refused or runs out. */
  const acquire = (o: CallOptions): Promise<void> => {
    if (counts.inFlight < opts.maxConcurrent) {
      counts.inFlight++;
      counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
      return Promise.resolve();
    }
    if (counts.queued >= maxQueue) return Promise.reject(full(`${counts.inFlight} calls in flight (bound ${opts.maxConcurrent}), ${counts.queued} queued`));
    return new Promise<void>((resolve, reject) => {
      counts.queued++;
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        counts.queued--;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      };
      const grant = () => {
        done();
        counts.inFlight++;
        counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
        resolve();
      };
      const giveUp = (err: RpcError) => {
        const i = waiting.indexOf(grant);
        if (i >= 0) waiting.splice(i, 1);
        done();
        reject(err);
      };
      const onAbort = () => giveUp(new RpcError('CANCELLED', `cancelled while queued for ${client.target}`, client.target));
      if (o.deadlineMs !== undefined) {
        timer = setTimeout(() => giveUp(full(`no slot within the call's ${Math.round(o.deadlineMs!)} ms budget`)), Math.max(0, o.deadlineMs));
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(grant);
    });
  };
  return {
    target: client.target,
    counts,
    maxConcurrent: opts.maxConcurrent,
    async call<Res>(method: string, req: unknown, o: CallOptions = {}): Promise<Res> {
      counts.calls++;
      const t0 = now();
      await acquire(o);
      try {
        const waited = now() - t0;
        const left = o.deadlineMs === undefined ? undefined : o.deadlineMs - waited;
        if (left !== undefined && left <= 0) throw full(`the call's ${Math.round(o.deadlineMs!)} ms budget ran out in the queue`);
        return await client.call<Res>(method, req, { ...o, ...(left !== undefined ? { deadlineMs: left } : {}) });
      } finally {
        release();
      }
    },
    close: () => client.close(),
  };
}
