/**
 * Wrong (on purpose): a retry cap instead of a budget: at most `budgetReserve` retries, ever (a counter nobody
 * resets). It does stop the storm, but the outage spends it, and after the shard recovers no blip is retried any
 * more: every transient failure reaches the user. A budget refills with the requests (`budgetRatio` each).
 *
 * What differs from after.ts: `RetryBudget` with `ratio: 0`.
 *
 * @rejected-with the budget spent during the outage never refilled
 */
import { RetryBudget, withRetry } from '../../../shared/services/resilience.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from '../after.ts';

export type { RetryPolicyOptions } from '../after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  return withRetry(upstream, {
    maxAttempts: opts.maxAttempts,
    backoff: { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'full' },
    budget: new RetryBudget({ ratio: 0, reserve: opts.budgetReserve }),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
