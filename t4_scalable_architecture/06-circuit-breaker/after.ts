/**
 * 06-circuit-breaker, after: every call to a shard has a timeout, and the shard sits behind a circuit breaker.
 *
 * - **Closed** (normal): calls go to the shard; the breaker counts failures: the shard down (`UNAVAILABLE`), a
 *   timeout (`DEADLINE_EXCEEDED`), a shed (`OVERLOADED`), a crash (`INTERNAL`). A caller's bad request
 *   (`INVALID_ARGUMENT`, `NOT_FOUND`) says nothing about the shard and does not count.
 * - **Open** (after `consecutiveFailures` failures in a row): calls fail at once with `CircuitOpenError` (an
 *   `UNAVAILABLE` RpcError) without touching the shard. The gateway answers from the other shards at once instead of
 *   waiting `timeoutMs` for this one, and the shard, if it is struggling, gets room to recover.
 * - **Half-open** (`halfOpenAfterMs` after opening): the next call goes through as a **probe**. It succeeds: the
 *   circuit closes and traffic flows again. It fails: open for another cool-down. Calls that arrive while the probe
 *   is in flight fail fast too (they do not wait for its outcome, nor all rush in at once).
 *
 * The engine's breaker is `withBreaker` in shared/services/resilience.ts (cockatiel's CircuitBreakerPolicy with a
 * ConsecutiveBreaker; a SamplingBreaker for a shard that fails some calls, not all).
 */
import { withBreaker, withTimeout, type CircuitStateName } from '../../shared/services/resilience.ts';
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
  return withBreaker(withTimeout(shard, opts.timeoutMs), {
    consecutiveFailures: opts.consecutiveFailures,
    halfOpenAfterMs: opts.halfOpenAfterMs,
  });
}
