/**
 * Resilience policies as wrappers over an `RpcClient` (rpc.ts): the gateway calls a wrapped client exactly as it
 * calls a bare one, so a policy is added or removed without touching the caller.
 *
 *     const shard = withRetry(withBreaker(httpRpcClient(url), { consecutiveFailures: 5, halfOpenAfterMs: 1000 }),
 *                             { maxAttempts: 3, budget: new RetryBudget({ ratio: 0.1, reserve: 10 }) });
 *
 * Order matters: retries **outside** the breaker, so a retry of a call the breaker refused fails fast too (and a
 * retry budget does not spend tokens on a circuit that is open: `CircuitOpenError` is not retryable).
 *
 * - `withBreaker` (lesson t4/06): cockatiel's `CircuitBreakerPolicy` with a consecutive or sampling breaker. Closed:
 *   calls go through and failures are counted. Open (after `consecutiveFailures` failures in a row, or a failure
 *   ratio over a window): calls fail at once with `CircuitOpenError` (an `UNAVAILABLE` RpcError, so the gateway can
 *   degrade: answer from the other shards) and the shard gets no traffic. After `halfOpenAfterMs`, half-open: the
 *   next call is let through as a **probe**; success closes the circuit, failure opens it for another cool-down.
 *   Calls that arrive while the probe is in flight fail fast too (cockatiel would make them wait for the probe's
 *   outcome: with a hanging shard, every one of them would pay the probe's timeout).
 * - `withRetry` (lesson t4/07): up to `maxAttempts` attempts of a retryable failure (`UNAVAILABLE`, `OVERLOADED`),
 *   waiting an exponential backoff with full jitter (a uniform draw in [0, min(maxMs, baseMs·2^(n-1))]) and never
 *   past the caller's deadline; each retry spends a token of a `RetryBudget`, which every request refills by
 *   `ratio`, so retries stay below `reserve + ratio × requests` however long an outage lasts.
 *
 * Both take injected clocks and randomness where they decide on time (`now`, `sleep`, `random`) so tests count
 * instead of timing; cockatiel reads `Date.now()` for the cool-down (vitest's fake timers move it).
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, IsolatedCircuitError, SamplingBreaker, circuitBreaker, handleWhen, type IBreaker } from 'cockatiel';
import { RpcError, isRpcError, toRpcError, type CallOptions, type RpcClient } from './rpc.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Timeout

/**
 * `client` with a budget of at most `timeoutMs` per call (the caller's own `deadlineMs`, when shorter, wins). The
 * transport enforces it: http-rpc.ts aborts the request and rejects with `DEADLINE_EXCEEDED`, and the callee gets the
 * budget in `x-deadline-ms`. Without one, a shard that accepts calls and never answers holds every caller forever.
 */
export function withTimeout(client: RpcClient, timeoutMs: number): RpcClient {
  return {
    target: client.target,
    call: <Res>(method: string, req: unknown, callOpts: CallOptions = {}) =>
      client.call<Res>(method, req, { ...callOpts, deadlineMs: Math.min(callOpts.deadlineMs ?? Infinity, timeoutMs) }),
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Circuit breaker

export type CircuitStateName = 'closed' | 'open' | 'half-open' | 'isolated';

const STATE_NAME: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** What says "the shard is failing": it is down, timed out, shed the call or broke. Not: the caller's bad request. */
export function isShardFailure(err: unknown): boolean {
  if (!isRpcError(err)) return true;
  return err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED' || err.code === 'OVERLOADED' || err.code === 'INTERNAL';
}

export interface BreakerOptions {
  /** Failures in a row that open the circuit (cockatiel's ConsecutiveBreaker). Default 5. Ignored with `sampling`. */
  consecutiveFailures?: number;
  /**
   * Open when more than `threshold` (0-1) of the calls over the last `durationMs` failed, once at least
   * `minimumRps` calls per second were seen (cockatiel's SamplingBreaker): for a shard that fails some calls, not all.
   */
  sampling?: { threshold: number; durationMs: number; minimumRps?: number };
  /** How long the circuit stays open before one probe is let through (half-open). Default 1000 ms. */
  halfOpenAfterMs?: number;
  /** Which errors count against the shard. Default `isShardFailure` (not INVALID_ARGUMENT, NOT_FOUND, ...). */
  isFailure?: (err: unknown) => boolean;
  /** Called on every state change (logs, metrics). */
  onStateChange?: (state: CircuitStateName) => void;
}

/** The error a call gets when the circuit refuses it: `UNAVAILABLE`, not retryable against the same shard. */
export class CircuitOpenError extends RpcError {
  constructor(target: string, readonly state: CircuitStateName) {
    super('UNAVAILABLE', `circuit ${state} for ${target || 'the upstream'}: failing fast without calling it`, target);
    this.name = 'CircuitOpenError';
  }

  override get retryable(): boolean {
    return false;
  }
}

export function isCircuitOpen(err: unknown): err is CircuitOpenError {
  return err instanceof CircuitOpenError;
}

export interface BreakerCounts {
  /** Calls made on the wrapped client. */
  calls: number;
  /** Calls that reached the upstream (probes included). */
  passed: number;
  /** Calls refused at once because the circuit was open or a probe was in flight. */
  failedFast: number;
  /** Times the circuit opened. */
  opened: number;
}

export interface BreakerClient extends RpcClient {
  readonly circuit: CircuitStateName;
  readonly counts: Readonly<BreakerCounts>;
}

/** The breaker's settings when not given: 5 failures in a row open it, for 1 s. */
export const BREAKER_DEFAULTS = { consecutiveFailures: 5, halfOpenAfterMs: 1000 } as const;

/** `client` behind a circuit breaker (see the file header). */
export function withBreaker(client: RpcClient, opts: BreakerOptions = {}): BreakerClient {
  const isFailure = opts.isFailure ?? isShardFailure;
  const breaker: IBreaker = opts.sampling
    ? new SamplingBreaker({ threshold: opts.sampling.threshold, duration: opts.sampling.durationMs, minimumRps: opts.sampling.minimumRps })
    : new ConsecutiveBreaker(opts.consecutiveFailures ?? BREAKER_DEFAULTS.consecutiveFailures);
  const policy = circuitBreaker(handleWhen(isFailure), { breaker, halfOpenAfter: opts.halfOpenAfterMs ?? BREAKER_DEFAULTS.halfOpenAfterMs });
  const counts: BreakerCounts = { calls: 0, passed: 0, failedFast: 0, opened: 0 };
  policy.onBreak(() => counts.opened++);
  if (opts.onStateChange) {
    const cb = opts.onStateChange;
    policy.onStateChange((s) => cb(STATE_NAME[s]));
  }
  const refuse = (state: CircuitStateName) => {
    counts.failedFast++;
    return new CircuitOpenError(client.target, state);
  };
  return {
    target: client.target,
    get circuit() {
      return STATE_NAME[policy.state];
    },
    counts,
    async call<Res>(method: string, req: unknown, callOpts?: CallOptions): Promise<Res> {
      counts.calls++;
      // a probe is in flight: fail fast instead of waiting for its outcome (cockatiel's default)
      if (policy.state === CircuitState.HalfOpen) throw refuse('half-open');
      try {
        return await policy.execute(() => {
          counts.passed++;
          return client.call<Res>(method, req, callOpts);
        });
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw refuse('open');
        if (err instanceof IsolatedCircuitError) throw refuse('isolated');
        throw err;
      }
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Retries

/**
 * A token bucket for retries: it starts with `reserve` tokens, every request adds `ratio` (capped at `maxTokens`),
 * every retry takes one. So over any stretch, retries ≤ reserve + ratio × requests: during an outage the upstream
 * receives at most (1 + ratio) × the requests plus the reserve, however many attempts each request may make.
 * (Finagle's RetryBudget and gRPC's retry throttling are the same idea.)
 */
export class RetryBudget {
  readonly ratio: number;
  readonly reserve: number;
  readonly maxTokens: number;
  /** In thousandths of a token, so that ten deposits of 0.1 make exactly one token. */
  private milli: number;
  private readonly depositMilli: number;
  private readonly maxMilli: number;
  /** Retries refused because the bucket was empty. */
  refused = 0;

  constructor(opts: { ratio?: number; reserve?: number; maxTokens?: number } = {}) {
    this.ratio = opts.ratio ?? 0.1;
    this.reserve = opts.reserve ?? 10;
    this.maxTokens = opts.maxTokens ?? Math.max(this.reserve, 100);
    if (!(this.ratio >= 0) || !(this.reserve >= 0) || !(this.maxTokens >= this.reserve)) {
      throw new RangeError(`RetryBudget: ratio ${this.ratio} and reserve ${this.reserve} must be ≥ 0, maxTokens ≥ reserve`);
    }
    this.milli = Math.round(this.reserve * 1000);
    this.depositMilli = Math.round(this.ratio * 1000);
    this.maxMilli = Math.round(this.maxTokens * 1000);
  }

  get tokens(): number {
    return this.milli / 1000;
  }

  /** A new request (its first attempt) refills the bucket by `ratio`. */
  deposit(): void {
    this.milli = Math.min(this.maxMilli, this.milli + this.depositMilli);
  }

  /** Takes a token for one retry; false (and no retry) when fewer than one is left. */
  tryWithdraw(): boolean {
    if (this.milli < 1000) {
      this.refused++;
      return false;
    }
    this.milli -= 1000;
    return true;
  }
}

export interface BackoffOptions {
  /** The cap of the first retry's delay, ms. Default 50. */
  baseMs?: number;
  /** The largest delay, ms. Default 2000. */
  maxMs?: number;
  /** 'full': a uniform draw in [0, cap] (default); 'none': the cap itself (every caller retries in step). */
  jitter?: 'full' | 'none';
}

/** The delay before retry `retry` (1 = the first retry): exponential cap, full jitter. */
export function backoffDelay(retry: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const cap = Math.min(opts.maxMs ?? 2000, (opts.baseMs ?? 50) * 2 ** (retry - 1));
  return (opts.jitter ?? 'full') === 'full' ? random() * cap : cap;
}

/** Resolves after `ms`, or rejects with the signal's reason when it fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  maxAttempts?: number;
  /** How long to wait before each retry; 'none' retries at once. Default { baseMs: 50, maxMs: 2000, jitter: 'full' }. */
  backoff?: BackoffOptions | 'none';
  /** Shared by every call through this client (one per upstream): caps retries at reserve + ratio × requests. */
  budget?: RetryBudget;
  /** Which errors are worth another attempt. Default: RpcErrors whose code is retryable (UNAVAILABLE, OVERLOADED). */
  isRetryable?: (err: unknown) => boolean;
  /** Honour the callee's Retry-After (`RpcError.retryAfterMs`) as the least delay. Default true. */
  honourRetryAfter?: boolean;
  /** Injected for tests: uniform [0, 1). Default Math.random. */
  random?: () => number;
  /** Injected for tests: waits `ms` (or rejects when the signal fires). Default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Injected for tests: a monotonic clock in ms, for the deadline. Default performance.now. */
  now?: () => number;
}

export interface RetryCounts {
  /** Calls made on the wrapped client. */
  calls: number;
  /** Attempts sent to the upstream (calls + retries): attempts / calls is the load multiplier. */
  attempts: number;
  /** Retries not made because the budget was empty. */
  budgetRefused: number;
  /** Retries not made because the wait would have passed the caller's deadline. */
  deadlineRefused: number;
}

export interface RetryClient extends RpcClient {
  readonly counts: Readonly<RetryCounts>;
}

/** Is this error worth another attempt by default? RpcErrors marked retryable (a circuit refusal is not). */
export function isRetryable(err: unknown): boolean {
  return isRpcError(err) && err.retryable;
}

/** `client` with retries (see the file header). */
export function withRetry(client: RpcClient, opts: RetryOptions = {}): RetryClient {
  const maxAttempts = opts.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
  const backoff = opts.backoff ?? {};
  const retryable = opts.isRetryable ?? isRetryable;
  const random = opts.random ?? Math.random;
  const wait = opts.sleep ?? sleep;
  const now = opts.now ?? (() => performance.now());
  const honour = opts.honourRetryAfter ?? true;
  const counts: RetryCounts = { calls: 0, attempts: 0, budgetRefused: 0, deadlineRefused: 0 };
  return {
    target: client.target,
    counts,
    async call<Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> {
      counts.calls++;
      opts.budget?.deposit();
      const deadlineAt = callOpts.deadlineMs === undefined ? Infinity : now() + callOpts.deadlineMs;
      for (let attempt = 1; ; attempt++) {
        counts.attempts++;
        const left = deadlineAt - now();
        try {
          return await client.call<Res>(method, req, { ...callOpts, ...(Number.isFinite(left) ? { deadlineMs: Math.max(0, Math.floor(left)) } : {}) });
        } catch (err) {
          if (attempt >= maxAttempts || !retryable(err) || callOpts.signal?.aborted) throw err;
          let delay = backoff === 'none' ? 0 : backoffDelay(attempt, backoff, random);
          const after = isRpcError(err) ? err.retryAfterMs : undefined;
          if (honour && after !== undefined && after > delay) delay = after;
          if (now() + delay >= deadlineAt) {
            counts.deadlineRefused++;
            throw err;
          }
          if (opts.budget && !opts.budget.tryWithdraw()) {
            counts.budgetRefused++;
            throw err;
          }
          if (delay > 0) {
            try {
              await wait(delay, callOpts.signal);
            } catch (reason) {
              throw toRpcError(reason, client.target); // the caller gave up while we waited: CANCELLED / DEADLINE_EXCEEDED
            }
          }
        }
      }
    },
    close: () => client.close(),
  };
}
