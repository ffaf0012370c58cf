/**
 * Wrong (on purpose): backoff, jitter and budget are right, but every error is retried, the caller's bad request
 * included. An INVALID_ARGUMENT fails the same way on every attempt: the retries only add load, spend budget the
 * next real blip needs, and make the caller wait longer for the same answer.
 *
 * What differs from after.ts: `isRetryable: () => true` instead of the retryable codes (UNAVAILABLE, OVERLOADED).
 *
 * @rejected-with retrying cannot help
 */
import { RetryBudget, withRetry } from '../../../shared/services/resilience.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from '../after.ts';

export type { RetryPolicyOptions } from '../after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  return withRetry(upstream, {
    maxAttempts: opts.maxAttempts,
    backoff: { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'full' },
    budget: new RetryBudget({ ratio: opts.budgetRatio, reserve: opts.budgetReserve }),
    isRetryable: () => true,
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
