/**
 * EXERCISE 06-circuit-breaker: stop a dead or hanging shard from costing every request its timeout.
 *
 * As shipped it is before.ts: every call to the shard carries a budget of `timeoutMs` (so nothing hangs forever),
 * and that is all. When the shard dies or hangs, every request still goes to it and waits the whole timeout, and the
 * shard keeps receiving the full load it is failing under.
 *
 * `guardShard(shard, { timeoutMs, consecutiveFailures, halfOpenAfterMs })` returns the shard's client as the gateway
 * uses it (an RpcClient from shared/services/rpc.ts), plus `circuit`: 'closed' | 'open' | 'half-open'. Yours to
 * decide: what counts as the shard failing, when to stop calling it, what a call gets meanwhile, and how the shard
 * is found healthy again.
 *
 * What must hold (checked by `npm run checkpoint -- 06-circuit-breaker`, with a fake shard and a fake clock: calls
 * and arrivals are counted, nothing timed):
 *   - a healthy shard answers every call; every call reaches it with a budget of at most `timeoutMs`;
 *   - after `consecutiveFailures` failures in a row (UNAVAILABLE, DEADLINE_EXCEEDED, OVERLOADED, INTERNAL), calls fail
 *     at once with an `UNAVAILABLE` RpcError (`CircuitOpenError` in shared/services/resilience.ts is one) and none
 *     reaches the shard; a timeout is a failure too;
 *   - the caller's bad requests (INVALID_ARGUMENT, NOT_FOUND) do not count against the shard;
 *   - `halfOpenAfterMs` after opening, exactly one call goes through as a probe; calls made while it is in flight
 *     fail at once (they neither wait for it nor go through); the probe fails → open for another cool-down; it
 *     succeeds → closed, and every call reaches the shard again.
 *
 * cockatiel (installed) has the state machine: `circuitBreaker(handleWhen(...), { breaker: new ConsecutiveBreaker(n),
 * halfOpenAfter })`. Read what it does with calls that arrive while it is half-open.
 *
 * Then measure the p99 during a slow-shard fault and the time to recover beside before and after:
 *   npm run t4 -- --only 06-circuit-breaker --impl exercise --quick
 * Stuck? npm run hint -- 06-circuit-breaker
 */
import { withTimeout, type CircuitStateName } from '../../shared/services/resilience.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';

export type { CircuitStateName } from '../../shared/services/resilience.ts';

export interface GuardOptions {
  /** Each call's budget, ms: a shard that does not answer within it fails the call with `DEADLINE_EXCEEDED`. */
  timeoutMs: number;
  /** Failures in a row (timeouts included) that open the circuit. */
  consecutiveFailures: number;
  /** How long the circuit stays open before one probe is let through, ms. */
  halfOpenAfterMs: number;
}

/** A shard's client as the gateway uses it: an RpcClient, plus the state of its circuit ('closed' when it has none). */
export interface GuardedShard extends RpcClient {
  readonly circuit: CircuitStateName;
}

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  const timed = withTimeout(shard, opts.timeoutMs);
  return { target: timed.target, circuit: 'closed', call: timed.call, close: timed.close };
}
