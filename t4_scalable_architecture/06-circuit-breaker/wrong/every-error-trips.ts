/**
 * Wrong (on purpose): every error counts against the shard, the caller's own bad requests included
 * (`handleAll` in cockatiel). A client that sends a malformed query five times in a row opens the circuit of a
 * healthy shard, and every other request to that shard fails fast for a cool-down: one caller's bug becomes an
 * outage for all.
 *
 * What differs from after.ts: `isFailure` is `() => true` instead of `isShardFailure` (UNAVAILABLE,
 * DEADLINE_EXCEEDED, OVERLOADED, INTERNAL).
 *
 * @rejected-with the shard is fine
 */
import { withBreaker, withTimeout } from '../../../shared/services/resilience.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from '../after.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from '../after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  return withBreaker(withTimeout(shard, opts.timeoutMs), {
    consecutiveFailures: opts.consecutiveFailures,
    halfOpenAfterMs: opts.halfOpenAfterMs,
    isFailure: () => true,
  });
}
