import { afterEach, describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import { startFaultyUpstream, type FaultyUpstream } from './faulty-upstream.ts';
import { httpRpcClient } from './http-rpc.ts';
import { backoffDelay, isCircuitOpen, RetryBudget, withBreaker, withRetry } from './resilience.ts';
import { RpcError, type CallOptions, type RpcClient } from './rpc.ts';

/** An in-process upstream whose answers the test scripts: counts every call that reaches it. */
function scripted(answer: (n: number, opts: CallOptions) => Promise<unknown>) {
  const calls: CallOptions[] = [];
  const client: RpcClient = {
    target: 'fake://shard',
    call: async <Res>(_m: string, _r: unknown, o: CallOptions = {}) => {
      calls.push(o);
      return (await answer(calls.length, o)) as Res;
    },
    close: async () => {},
  };
  return { client, calls };
}
const down = () => Promise.reject(new RpcError('UNAVAILABLE', 'down'));
const ok = () => Promise.resolve('ok');

async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

describe('withBreaker', () => {
  afterEach(() => vi.useRealTimers());

  it('opens after N failures in a row, fails fast while open, probes once after the cool-down and closes on success', async () => {
    vi.useFakeTimers();
    let healthy = false;
    const up = scripted(() => (healthy ? ok() : down()));
    const b = withBreaker(up.client, { consecutiveFailures: 3, halfOpenAfterMs: 1000 });
    for (let i = 0; i < 3; i++) expect((await settle(b.call('search', {}))).error).toBeInstanceOf(RpcError);
    expect(b.circuit).toBe('open');
    for (let i = 0; i < 10; i++) expect(isCircuitOpen((await settle(b.call('search', {}))).error)).toBe(true);
    expect(up.calls.length, 'calls reached the shard while the circuit was open').toBe(3);
    vi.advanceTimersByTime(1001);
    healthy = true;
    const probe = b.call('search', {});
    expect(b.circuit).toBe('half-open');
    expect(isCircuitOpen((await settle(b.call('search', {}))).error), 'a call during the probe waited instead of failing fast').toBe(true);
    expect(await probe).toBe('ok');
    expect(b.circuit).toBe('closed');
    expect(await b.call('search', {})).toBe('ok');
    expect(b.counts).toMatchObject({ passed: 5, failedFast: 11, opened: 1 });
  });

  it('does not count a caller error (INVALID_ARGUMENT) against the shard', async () => {
    const up = scripted(() => Promise.reject(new RpcError('INVALID_ARGUMENT', 'bad')));
    const b = withBreaker(up.client, { consecutiveFailures: 2 });
    for (let i = 0; i < 5; i++) await settle(b.call('search', {}));
    expect(b.circuit).toBe('closed');
    expect(up.calls.length).toBe(5);
  });

  it('opens on a failure ratio with a sampling breaker', async () => {
    vi.useFakeTimers();
    const up = scripted((n) => (n % 2 === 0 ? down() : ok()));
    const b = withBreaker(up.client, { sampling: { threshold: 0.3, durationMs: 1000, minimumRps: 5 } });
    for (let i = 0; i < 40 && b.circuit === 'closed'; i++) {
      await settle(b.call('search', {}));
      vi.advanceTimersByTime(10);
    }
    expect(b.circuit).toBe('open');
  });
});

describe('RetryBudget and backoff', () => {
  it('allows at most reserve + ratio × requests retries', () => {
    const budget = new RetryBudget({ ratio: 0.1, reserve: 5 });
    let granted = 0;
    for (let i = 0; i < 100; i++) {
      budget.deposit();
      while (budget.tryWithdraw()) granted++;
    }
    expect(granted).toBe(15);
    expect(budget.refused).toBeGreaterThan(0);
  });

  it('draws full-jitter delays under an exponential cap', () => {
    const rand = mulberry32(3);
    for (let retry = 1; retry <= 8; retry++) {
      const cap = Math.min(1000, 50 * 2 ** (retry - 1));
      const d = backoffDelay(retry, { baseMs: 50, maxMs: 1000 }, rand);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(cap);
      expect(backoffDelay(retry, { baseMs: 50, maxMs: 1000, jitter: 'none' })).toBe(cap);
    }
  });
});

describe('withRetry', () => {
  const virtual = () => {
    let t = 0;
    const waits: number[] = [];
    return { now: () => t, sleep: async (ms: number) => void (waits.push(ms), (t += ms)), waits };
  };

  it('retries a retryable failure after a jittered wait, not an INVALID_ARGUMENT', async () => {
    const clock = virtual();
    const up = scripted((n) => (n === 1 ? down() : ok()));
    const r = withRetry(up.client, { maxAttempts: 3, backoff: { baseMs: 100 }, random: () => 0.5, ...clock });
    expect(await r.call('search', {})).toBe('ok');
    expect(clock.waits).toEqual([50]);
    const bad = scripted(() => Promise.reject(new RpcError('INVALID_ARGUMENT', 'bad')));
    const r2 = withRetry(bad.client, { maxAttempts: 3, ...clock });
    expect(((await settle(r2.call('search', {}))).error as RpcError).code).toBe('INVALID_ARGUMENT');
    expect(bad.calls.length).toBe(1);
  });

  it('caps the load multiplier of an outage with the budget', async () => {
    const clock = virtual();
    const up = scripted(() => down());
    const r = withRetry(up.client, { maxAttempts: 4, budget: new RetryBudget({ ratio: 0.1, reserve: 10 }), random: mulberry32(1), ...clock });
    for (let i = 0; i < 200; i++) await settle(r.call('search', {}));
    expect(up.calls.length).toBe(200 + 10 + 20);
    expect(r.counts.budgetRefused).toBeGreaterThan(0);
  });

  it('never waits past the deadline, and gives each attempt the budget left', async () => {
    const clock = virtual();
    const up = scripted(() => down());
    const r = withRetry(up.client, { maxAttempts: 10, backoff: { baseMs: 100, maxMs: 10_000 }, random: () => 0.99, ...clock });
    const { error } = await settle(r.call('search', {}, { deadlineMs: 500 }));
    expect((error as RpcError).code).toBe('UNAVAILABLE');
    expect(clock.now()).toBeLessThan(500);
    expect(up.calls.map((c) => c.deadlineMs)).toEqual([500, 401, 203]);
    expect(r.counts.deadlineRefused).toBe(1);
  });
});

describe('faulty upstream (a real process) behind the policies', () => {
  let shard: FaultyUpstream | undefined;
  let client: RpcClient | undefined;
  afterEach(async () => {
    await client?.close();
    await shard?.close();
    client = shard = undefined;
  });

  it('switches faults at run time and counts the calls that reach it', async () => {
    shard = await startFaultyUpstream({ name: 's0' });
    client = httpRpcClient(shard.url, { connections: 4 });
    expect(await client.call('search', { q: 'abc' })).toMatchObject({ shard: 's0', q: 'abc' });
    await shard.setFault({ errorRate: 1 });
    const retried = withRetry(client, { maxAttempts: 3, backoff: 'none' });
    expect(((await settle(retried.call('search', { q: 'x' }))).error as RpcError).code).toBe('UNAVAILABLE');
    expect((await shard.stats()).arrivals).toBe(4);
    await shard.setFault({ mode: 'hang' });
    expect(((await settle(client.call('search', {}, { deadlineMs: 100 }))).error as RpcError).code).toBe('DEADLINE_EXCEEDED');
    await shard.setFault({ mode: 'refuse' });
    const b = withBreaker(client, { consecutiveFailures: 2, halfOpenAfterMs: 50 });
    for (let i = 0; i < 4; i++) await settle(b.call('search', {}));
    expect(b.counts).toMatchObject({ passed: 2, failedFast: 2 });
    await shard.setFault({});
    await new Promise((r) => setTimeout(r, 60));
    expect(await b.call('search', { q: 'back' })).toMatchObject({ q: 'back' });
    expect(b.circuit).toBe('closed');
  });
});
