/**
 * EXERCISE 07-retries: retry a blip without turning an outage into a retry storm.
 *
 * As shipped it is before.ts: on any error, try again at once, up to `maxAttempts` times. A blip is ridden out; an
 * outage is multiplied: the shard that is down receives maxAttempts × its load, back to back, while it tries to
 * come back.
 *
 * `createCaller(shard, { maxAttempts, baseDelayMs, maxDelayMs, budgetRatio, budgetReserve, random, sleep, now })`
 * returns the shard's client as the gateway uses it (an RpcClient from shared/services/rpc.ts). Use the injected
 * `random`, `sleep` and `now` when given (the checkpoint's virtual clock; defaults: Math.random, a timer,
 * performance.now). Yours to decide: which failures are retried, how long to wait before each retry, and how many
 * retries the shard receives in all.
 *
 * What must hold (checked by `npm run checkpoint -- 07-retries`: attempts and waits counted, nothing timed):
 *   - a healthy shard gets one attempt per request; a shard failing 1 attempt in 10 answers every request;
 *   - INVALID_ARGUMENT (and any error that is not UNAVAILABLE / OVERLOADED) is not retried;
 *   - during an outage (every attempt fails) the shard receives at most (budgetReserve + budgetRatio × requests)
 *     retries in all: the load multiplier stays ≤ 1 + budgetRatio + budgetReserve / requests;
 *   - retry n waits a uniform draw in [0, min(maxDelayMs, baseDelayMs × 2^(n-1))] (full jitter): requests that
 *     failed together do not retry together, and the window widens with n;
 *   - no attempt starts after the caller's `deadlineMs`, and each attempt is sent with only the budget left;
 *   - once the shard recovers, blips are retried again (the budget refills with the requests).
 *
 * shared/services/resilience.ts has the pieces (`backoffDelay`, `RetryBudget`, `isRetryable`, `sleep`).
 *
 * Then measure the load multiplier during an outage beside before and after:
 *   npm run t4 -- --only 07-retries --impl exercise --quick
 * Stuck? npm run hint -- 07-retries
 */
import type { CallOptions, RpcClient } from '../../shared/services/rpc.ts';

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
  return {
    target: upstream.target,
    async call<Res>(method: string, req: unknown, callOpts?: CallOptions): Promise<Res> {
      let last: unknown;
      for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
        try {
          return await upstream.call<Res>(method, req, callOpts);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    close: () => upstream.close(),
  };
}
