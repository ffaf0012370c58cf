/**
 * 07-retries, after: retry only what can succeed, wait an exponential backoff with full jitter, never past the
 * caller's deadline, and spend a retry budget shared by every request to the shard.
 *
 * - **What**: only `UNAVAILABLE` and `OVERLOADED` (the shard was down or shed the call: another attempt may land).
 *   Not `INVALID_ARGUMENT` (the same request fails the same way), not `DEADLINE_EXCEEDED` (the caller's time is spent).
 * - **When**: before retry n, a uniform draw in [0, min(maxDelayMs, baseDelayMs·2^(n-1))] (full jitter): the
 *   requests that failed together in one blip spread their retries over the window instead of coming back in step,
 *   and the window widens while the shard stays down. A retry whose wait would end past the deadline is not made.
 * - **How many**: a token bucket per shard (`RetryBudget`): it starts with `budgetReserve` tokens, each request adds
 *   `budgetRatio`, each retry takes one. A blip is retried in full; a long outage is not: the shard receives at most
 *   (1 + budgetRatio) × the requests (plus the reserve) instead of maxAttempts ×, and it refills once traffic succeeds.
 *
 * The engine's policy is `withRetry` + `RetryBudget` in shared/services/resilience.ts.
 */
import { RetryBudget, withRetry, type RetryClient } from '../../shared/services/resilience.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';

export interface RetryPolicyOptions {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** The cap of the first retry's wait, ms; it doubles per retry up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Retries per request the budget allows on average: each request adds this many tokens, each retry takes one. */
  budgetRatio: number;
  /** Tokens the budget starts with: retries a caller may make before its requests have earned any. */
  budgetReserve: number;
  /** Uniform [0, 1); default Math.random (tests inject a seeded one). */
  random?: () => number;
  /** Waits `ms`; default a timer (tests inject a virtual clock). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Monotonic ms, for the deadline; default performance.now. */
  now?: () => number;
}

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  const client: RetryClient = withRetry(upstream, {
    maxAttempts: opts.maxAttempts,
    backoff: { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'full' },
    budget: new RetryBudget({ ratio: opts.budgetRatio, reserve: opts.budgetReserve }),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  return client;
}
