/**
 * Wrong (on purpose): the breaker counts the errors the shard answers (UNAVAILABLE, INTERNAL, OVERLOADED) but not a
 * timeout, which looks like "no answer" rather than "an error". A shard that is slow or hangs then never opens the
 * circuit, and that is the fault a breaker is most needed for: every call keeps waiting the whole timeout.
 *
 * What differs from after.ts: `isFailure` leaves out DEADLINE_EXCEEDED.
 *
 * @rejected-with timeouts did not open the circuit
 */
import { withBreaker, withTimeout } from '../../../shared/services/resilience.ts';
import { isRpcError, type RpcClient } from '../../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from '../after.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from '../after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  return withBreaker(withTimeout(shard, opts.timeoutMs), {
    consecutiveFailures: opts.consecutiveFailures,
    halfOpenAfterMs: opts.halfOpenAfterMs,
    isFailure: (err) => isRpcError(err, 'UNAVAILABLE') || isRpcError(err, 'INTERNAL') || isRpcError(err, 'OVERLOADED'),
  });
}
