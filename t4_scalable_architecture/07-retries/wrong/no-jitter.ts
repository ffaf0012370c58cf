/**
 * Wrong (on purpose): exponential backoff without jitter (50 ms, 100 ms, 200 ms ...), with the budget. Every request
 * that failed in the same blip waits exactly as long and retries at the same instant: the shard sees the load
 * again in synchronized waves, each one big enough to knock it over again. Full jitter (a uniform draw under the
 * cap) is what spreads them.
 *
 * What differs from after.ts: `jitter: 'none'`: the wait is the cap itself.
 *
 * @rejected-with requests that fail together retry together
 */
import { RetryBudget, withRetry } from '../../../shared/services/resilience.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from '../after.ts';

export type { RetryPolicyOptions } from '../after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  return withRetry(upstream, {
    maxAttempts: opts.maxAttempts,
    backoff: { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'none' },
    budget: new RetryBudget({ ratio: opts.budgetRatio, reserve: opts.budgetReserve }),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
