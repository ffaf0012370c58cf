/**
 * A hand-written breaker, the one people write before reaching for a library: count failures in a row, and after
 * `consecutiveFailures` of them refuse calls for `halfOpenAfterMs`. What happens when the cool-down ends is the
 * switch two wrong solutions turn: 'reset' forgets the failures and lets every call in at once (no single probe),
 * 'stay-open' never lets a call in again (a kill switch only a restart resets). Used only by wrong/.
 */
import { CircuitOpenError, isShardFailure, withTimeout, type CircuitStateName } from '../../shared/services/resilience.ts';
import type { CallOptions, RpcClient } from '../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from './after.ts';

export function naiveBreaker(shard: RpcClient, opts: GuardOptions, afterCoolDown: 'reset' | 'stay-open'): GuardedShard {
  const timed = withTimeout(shard, opts.timeoutMs);
  let failures = 0;
  let openedAt: number | undefined;
  const state = (): CircuitStateName => {
    if (openedAt === undefined) return 'closed';
    if (afterCoolDown === 'reset' && Date.now() - openedAt >= opts.halfOpenAfterMs) {
      openedAt = undefined;
      failures = 0;
      return 'closed';
    }
    return 'open';
  };
  return {
    target: shard.target,
    get circuit() {
      return state();
    },
    async call<Res>(method: string, req: unknown, o?: CallOptions): Promise<Res> {
      if (state() === 'open') throw new CircuitOpenError(shard.target, 'open');
      try {
        const out = await timed.call<Res>(method, req, o);
        failures = 0;
        return out;
      } catch (err) {
        if (isShardFailure(err) && ++failures >= opts.consecutiveFailures) openedAt ??= Date.now();
        throw err;
      }
    },
    close: () => timed.close(),
  };
}
