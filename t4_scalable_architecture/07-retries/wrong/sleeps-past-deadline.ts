/**
 * Wrong (on purpose): backoff with full jitter, retryable errors only, a budget, and no deadline: the loop waits and
 * retries as if the caller had all the time in the world, and sends every attempt with the caller's whole original
 * budget. The gateway gave up at its deadline; the retries after it are load for an answer nobody reads.
 *
 * What differs from after.ts: a hand-written loop that does not track the time left.
 *
 * @rejected-with after the caller's 300 ms deadline
 */
import { backoffDelay, isRetryable, RetryBudget, sleep } from '../../../shared/services/resilience.ts';
import type { CallOptions, RpcClient } from '../../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from '../after.ts';

export type { RetryPolicyOptions } from '../after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  const budget = new RetryBudget({ ratio: opts.budgetRatio, reserve: opts.budgetReserve });
  const wait = opts.sleep ?? sleep;
  return {
    target: upstream.target,
    async call<Res>(method: string, req: unknown, callOpts?: CallOptions): Promise<Res> {
      budget.deposit();
      for (let attempt = 1; ; attempt++) {
        try {
          return await upstream.call<Res>(method, req, callOpts);
        } catch (err) {
          if (attempt >= opts.maxAttempts || !isRetryable(err) || !budget.tryWithdraw()) throw err;
          await wait(backoffDelay(attempt, { baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }, opts.random));
        }
      }
    },
    close: () => upstream.close(),
  };
}
