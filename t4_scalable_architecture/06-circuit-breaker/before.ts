/**
 * 06-circuit-breaker, before: every call to a shard has a timeout, and that is all.
 *
 * The way a shard client is first written, and not a wrong one: nothing hangs forever. But when a shard dies or
 * slows down, every request still goes to it and waits the whole `timeoutMs` before failing (latency amplification:
 * a 2 ms answer becomes a 250 ms failure, for every request, for as long as the fault lasts), and the struggling
 * shard keeps receiving the full load it is failing under. `consecutiveFailures` and `halfOpenAfterMs` are
 * accepted and ignored; `circuit` is always 'closed'.
 */
import { withTimeout } from '../../shared/services/resilience.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from './after.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from './after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  const timed = withTimeout(shard, opts.timeoutMs);
  return { target: timed.target, circuit: 'closed', call: timed.call, close: timed.close };
}
