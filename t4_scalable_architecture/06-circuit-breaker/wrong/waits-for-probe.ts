/**
 * Wrong (on purpose): cockatiel's circuit breaker used as it comes. Closed, open and the single half-open probe are
 * right, but while the probe is in flight cockatiel makes every other call wait for its outcome. With a shard that
 * hangs, the probe takes the whole timeout, so once per cool-down every request arriving in that window waits
 * timeoutMs and then fails anyway: the latency amplification comes back in bursts.
 *
 * What differs from after.ts: no fail-fast check while half-open (after.ts's `withBreaker` refuses a call at once
 * when `policy.state` is HalfOpen).
 *
 * @rejected-with did not fail fast
 */
import { BrokenCircuitError, circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import { CircuitOpenError, isShardFailure, withTimeout } from '../../../shared/services/resilience.ts';
import type { CallOptions, RpcClient } from '../../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from '../after.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from '../after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  const timed = withTimeout(shard, opts.timeoutMs);
  const policy = circuitBreaker(handleWhen(isShardFailure), { breaker: new ConsecutiveBreaker(opts.consecutiveFailures), halfOpenAfter: opts.halfOpenAfterMs });
  return {
    target: shard.target,
    get circuit() {
      return (['closed', 'open', 'half-open', 'isolated'] as const)[policy.state];
    },
    async call<Res>(method: string, req: unknown, o?: CallOptions): Promise<Res> {
      try {
        return await policy.execute(() => timed.call<Res>(method, req, o));
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw new CircuitOpenError(shard.target, 'open');
        throw err;
      }
    },
    close: () => timed.close(),
  };
}
