/**
 * Checkpoint for 07-retries. `npm run checkpoint -- 07-retries` runs it against exercise.ts; plain `npx vitest run`
 * checks before.ts (immediate retries: "answers a healthy shard" and "rides out a blip" apply) and after.ts.
 *
 * The shard is a fake that counts every attempt reaching it and answers as the test says: 'up', 'down' (every
 * attempt UNAVAILABLE: an outage), 'flaky' (every `every`-th attempt UNAVAILABLE), 'bad' (INVALID_ARGUMENT). The
 * caller gets a virtual clock (`now`) and a `sleep` that records the wait and moves that clock at once, and a seeded
 * `random`: attempts, waits and the load multiplier are counted, nothing is timed.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { RpcError, isRpcError, type CallOptions, type RpcClient } from '../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from './after.ts';

type Mod = typeof import('./after.ts');

const OPTS = { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 1000, budgetRatio: 0.1, budgetReserve: 10 };

type Mode = { kind: 'up' } | { kind: 'down' } | { kind: 'flaky'; every: number } | { kind: 'bad' };

function fakeShard() {
  const state = { mode: { kind: 'up' } as Mode, attempts: 0, log: [] as Array<{ at: number; deadlineMs?: number }> };
  const clock = { t: 0, waits: [] as number[] };
  const client: RpcClient = {
    target: 'http://shard-1',
    call: async <Res>(_m: string, req: unknown, o: CallOptions = {}): Promise<Res> => {
      state.attempts++;
      state.log.push({ at: clock.t, deadlineMs: o.deadlineMs });
      const m = state.mode;
      if (m.kind === 'down' || (m.kind === 'flaky' && state.attempts % m.every === 1)) throw new RpcError('UNAVAILABLE', 'shard-1: 503', 'http://shard-1');
      if (m.kind === 'bad') throw new RpcError('INVALID_ARGUMENT', 'shard-1: k must be ≥ 1', 'http://shard-1');
      return { shard: 1, echo: req } as Res;
    },
    close: async () => {},
  };
  const injected: Pick<RetryPolicyOptions, 'now' | 'sleep'> = {
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.waits.push(ms);
      clock.t += ms;
    },
  };
  return { state, clock, client, injected };
}

async function settle(p: Promise<unknown>): Promise<{ value?: unknown; error?: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

const describeErr = (e: unknown) => (isRpcError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  function setup(over: Partial<RetryPolicyOptions> = {}) {
    const shard = fakeShard();
    const caller = impl.createCaller(shard.client, { ...OPTS, random: mulberry32(7), ...shard.injected, ...over });
    return { shard, caller };
  }

  it('answers every request with the shard’s result, one attempt each, while the shard is healthy', async () => {
    const { shard, caller } = setup();
    for (let i = 0; i < 20; i++) expect(await caller.call('search', { q: i })).toEqual({ shard: 1, echo: { q: i } });
    expect(shard.state.attempts, `${shard.state.attempts} attempts for 20 requests to a healthy shard`).toBe(20);
  });

  it('rides out a blip: a shard that fails 1 attempt in 10 answers every request', async () => {
    const { shard, caller } = setup();
    shard.state.mode = { kind: 'flaky', every: 10 };
    const out = [];
    for (let i = 0; i < 40; i++) out.push(await settle(caller.call('search', { q: i })));
    const failed = out.filter((r) => r.error !== undefined);
    expect(failed.length, `${failed.length} of 40 requests failed though a retry would have succeeded: ${describeErr(failed[0]?.error)}`).toBe(0);
  });

  describe.skipIf(name === 'before')('retrying without a storm', () => {
    it('does not retry what cannot succeed: an INVALID_ARGUMENT is sent once', async () => {
      const { shard, caller } = setup();
      shard.state.mode = { kind: 'bad' };
      const { error } = await settle(caller.call('search', { q: 'k=0' }));
      expect(isRpcError(error, 'INVALID_ARGUMENT'), `the request failed with ${describeErr(error)}, not the shard's INVALID_ARGUMENT`).toBe(true);
      expect(
        shard.state.attempts,
        `an INVALID_ARGUMENT (the request is bad: retrying cannot help) was sent ${shard.state.attempts} times`,
      ).toBe(1);
    });

    it('caps the load multiplier during an outage with the retry budget', async () => {
      const { shard, caller } = setup();
      shard.state.mode = { kind: 'down' };
      const n = 200;
      for (let i = 0; i < n; i++) {
        const { error } = await settle(caller.call('search', { q: i }));
        expect(isRpcError(error, 'UNAVAILABLE'), `request ${i} during the outage: ${describeErr(error)}`).toBe(true);
      }
      const multiplier = shard.state.attempts / n;
      const bound = (n + OPTS.budgetReserve + OPTS.budgetRatio * n) / n;
      expect(
        multiplier,
        `load multiplier ${multiplier.toFixed(2)} during the outage (${shard.state.attempts} attempts for ${n} requests): the shard that is down receives ` +
          `${multiplier.toFixed(2)}× its load; the retry budget allows at most ${bound.toFixed(2)} (${OPTS.budgetReserve} + ${OPTS.budgetRatio * 100}% of the requests)`,
      ).toBeLessThanOrEqual(bound);
    });

    it('waits an exponential backoff with full jitter before each retry', async () => {
      const { shard, caller } = setup({ budgetReserve: 1_000 });
      shard.state.mode = { kind: 'down' };
      const first: number[] = [];
      const second: number[] = [];
      for (let i = 0; i < 50; i++) {
        const before = shard.clock.waits.length;
        await settle(caller.call('search', { q: i }));
        const w = shard.clock.waits.slice(before);
        if (w.length > 0) first.push(w[0]);
        if (w.length > 1) second.push(w[1]);
      }
      const retries = shard.state.attempts - 50;
      expect(first.length, `retried at once: ${retries} retries, none of them waited (0 ms): the shard gets them back to back`).toBeGreaterThan(0);
      const distinct = new Set(first.map((ms) => Math.round(ms * 1000))).size;
      expect(
        distinct,
        `all ${first.length} requests that failed waited ${first[0].toFixed(0)} ms before their first retry (${distinct} distinct waits): requests that fail together retry together, a synchronized wave`,
      ).toBeGreaterThanOrEqual(40);
      const cap1 = OPTS.baseDelayMs;
      const cap2 = 2 * OPTS.baseDelayMs;
      expect(Math.max(...first), `a first retry waited ${Math.max(...first).toFixed(0)} ms, more than its cap baseDelayMs = ${cap1}`).toBeLessThanOrEqual(cap1);
      expect(second.length, 'no request made a second retry').toBeGreaterThan(0);
      expect(Math.max(...second), `a second retry waited ${Math.max(...second).toFixed(0)} ms, more than its cap 2 × baseDelayMs = ${cap2}`).toBeLessThanOrEqual(cap2);
      expect(
        Math.max(...second),
        `the second retries waited at most ${Math.max(...second).toFixed(0)} ms: the window does not widen (exponential: up to ${cap2} ms)`,
      ).toBeGreaterThan(cap1);
    });

    it('never retries past the caller’s deadline, and gives each attempt only the budget left', async () => {
      const { shard, caller } = setup({ maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 10_000, budgetReserve: 100, random: () => 0.99 });
      shard.state.mode = { kind: 'down' };
      const deadline = 300;
      const { error } = await settle(caller.call('search', { q: 'x' }, { deadlineMs: deadline }));
      expect(isRpcError(error), `the request failed with ${describeErr(error)}, not an RpcError`).toBe(true);
      const late = shard.state.log.findIndex((a) => a.at >= deadline);
      if (late >= 0) {
        const at = shard.state.log[late].at;
        expect.fail(`attempt ${late + 1} started at ${at.toFixed(0)} ms, after the caller's ${deadline} ms deadline: nobody waits for its answer (${shard.state.log.length} attempts in all)`);
      }
      for (const [k, a] of shard.state.log.entries()) {
        const left = deadline - a.at;
        expect(
          a.deadlineMs !== undefined && a.deadlineMs <= left + 1e-6,
          `attempt ${k + 1} (at ${a.at.toFixed(0)} ms) was sent with a budget of ${a.deadlineMs} ms; only ${left.toFixed(0)} ms of the caller's deadline were left`,
        ).toBe(true);
      }
    });

    it('refills the budget once the shard recovers: a blip after an outage is retried again', async () => {
      const { shard, caller } = setup();
      shard.state.mode = { kind: 'down' };
      for (let i = 0; i < 200; i++) await settle(caller.call('search', { q: i }));
      shard.state.mode = { kind: 'flaky', every: 20 };
      let failed = 0;
      for (let i = 0; i < 200; i++) if ((await settle(caller.call('search', { q: i }))).error !== undefined) failed++;
      expect(
        failed,
        `after the shard recovered, ${failed} of 200 requests failed on a blip (1 attempt in 20) that one retry would fix: the budget spent during the outage never refilled`,
      ).toBeLessThanOrEqual(2);
    });
  });
});
