/**
 * Wrong (on purpose): exponential backoff with full jitter, only retryable errors, within the deadline, and no retry
 * budget. Backoff spreads the retries in time, but every request the shard fails is still sent `maxAttempts` times:
 * during an outage the shard receives maxAttempts × its load, only a little later. Backoff decides *when*; only a
 * budget decides *how many*.
 *
 * What differs from after.ts: `withRetry` without `budget`.
 *
 * @rejected-with the retry budget allows at most
 */
import { withRetry } from '../../../shared/services/resilience.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from '../after.ts';

export type { RetryPolicyOptions } from '../after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  return withRetry(upstream, {
    maxAttempts: opts.maxAttempts,
    backoff: { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'full' },
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
