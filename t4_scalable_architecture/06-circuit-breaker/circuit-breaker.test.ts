/**
 * Checkpoint for 06-circuit-breaker. `npm run checkpoint -- 06-circuit-breaker` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (a timeout only: "answers a healthy shard" and "a hanging shard costs the
 * timeout, not forever" apply) and after.ts.
 *
 * The shard is a fake that counts every call reaching it and answers as the test says: 'up' (its result), 'error'
 * (UNAVAILABLE at once), 'hang' (nothing until the call's `deadlineMs` runs out, then DEADLINE_EXCEEDED, as
 * http-rpc.ts does), 'bad' (INVALID_ARGUMENT: the caller's mistake). Time is vitest's fake clock (setTimeout and
 * Date, which cockatiel reads for the cool-down): what is checked is counted, never timed: which calls reached the
 * shard, which failed at once (settled without the clock moving), and with what.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { RpcError, isRpcError, type CallOptions, type RpcClient } from '../../shared/services/rpc.ts';
import type { GuardOptions } from './after.ts';

type Mod = typeof import('./after.ts');
type Mode = 'up' | 'error' | 'hang' | 'bad';

const OPTS: GuardOptions = { timeoutMs: 200, consecutiveFailures: 5, halfOpenAfterMs: 1000 };

/** Lets every pending promise callback run (setImmediate stays real under the fake clock). */
const flush = async () => {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
};

function fakeShard() {
  const state = { mode: 'up' as Mode, arrivals: 0, budgets: [] as Array<number | undefined> };
  const client: RpcClient = {
    target: 'http://shard-3',
    call: <Res>(_method: string, req: unknown, o: CallOptions = {}): Promise<Res> => {
      state.arrivals++;
      state.budgets.push(o.deadlineMs);
      const mode = state.mode;
      if (mode === 'up') return Promise.resolve({ shard: 3, echo: req } as Res);
      if (mode === 'error') return Promise.reject(new RpcError('UNAVAILABLE', 'shard-3: ECONNREFUSED', 'http://shard-3'));
      if (mode === 'bad') return Promise.reject(new RpcError('INVALID_ARGUMENT', 'shard-3: k must be ≥ 1', 'http://shard-3'));
      return new Promise<Res>((_, reject) => {
        if (o.deadlineMs !== undefined) setTimeout(() => reject(new RpcError('DEADLINE_EXCEEDED', `no answer within ${o.deadlineMs} ms`)), o.deadlineMs);
      });
    },
    close: async () => {},
  };
  return { state, client };
}

interface Tracked {
  settled: boolean;
  value?: unknown;
  error?: unknown;
}

function track(p: Promise<unknown>): Tracked {
  const t: Tracked = { settled: false };
  p.then(
    (v) => Object.assign(t, { settled: true, value: v }),
    (e: unknown) => Object.assign(t, { settled: true, error: e }),
  );
  return t;
}

const describeErr = (e: unknown) => (isRpcError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    const shard = fakeShard();
    const guarded = impl.guardShard(shard.client, OPTS);
    const call = (i = 0) => track(guarded.call('search', { q: `q${i}` }));
    /** `n` calls, then lets the clock run `ms` (the timeouts of hanging calls fire). */
    const calls = async (n: number, ms = 0) => {
      const out = Array.from({ length: n }, (_, i) => call(i));
      await flush();
      if (ms > 0) await vi.advanceTimersByTimeAsync(ms);
      await flush();
      return out;
    };
    return { shard, guarded, call, calls };
  }

  /** Opens the circuit: `consecutiveFailures` failures in a row with the shard in `mode`. */
  async function trip(s: ReturnType<typeof setup>, mode: Mode = 'error') {
    s.shard.state.mode = mode;
    for (let i = 0; i < OPTS.consecutiveFailures; i++) await s.calls(1, mode === 'hang' ? OPTS.timeoutMs : 0);
  }

  it('answers every call with the shard’s result while the shard is healthy, each with a budget of at most timeoutMs', async () => {
    const s = setup();
    const out = await s.calls(20);
    out.forEach((t, i) => expect(t.value, `call ${i}: ${describeErr(t.error)}`).toEqual({ shard: 3, echo: { q: `q${i}` } }));
    expect(s.shard.state.arrivals).toBe(20);
    for (const b of s.shard.state.budgets) {
      expect(b !== undefined && b <= OPTS.timeoutMs, `a call went to the shard with a budget of ${b} ms, not ≤ ${OPTS.timeoutMs}: a hanging shard would hold it forever`).toBe(true);
    }
    expect(s.guarded.circuit).toBe('closed');
  });

  it('fails a call to a hanging shard with DEADLINE_EXCEEDED after timeoutMs, not never', async () => {
    const s = setup();
    s.shard.state.mode = 'hang';
    const [t] = await s.calls(1, OPTS.timeoutMs);
    expect(t.settled, `a call to a hanging shard was still waiting ${OPTS.timeoutMs} ms later`).toBe(true);
    expect(isRpcError(t.error, 'DEADLINE_EXCEEDED'), describeErr(t.error)).toBe(true);
  });

  describe.skipIf(name === 'before')('the circuit', () => {
    it('opens after consecutiveFailures errors in a row: later calls fail at once and never reach the dead shard', async () => {
      const s = setup();
      await trip(s, 'error');
      const out = await s.calls(100);
      const reached = s.shard.state.arrivals - OPTS.consecutiveFailures;
      expect(
        reached,
        `the dead shard received ${reached} of the 100 calls made after ${OPTS.consecutiveFailures} failures in a row: nothing stopped the traffic (the circuit should be open)`,
      ).toBe(0);
      for (const t of out) expect(isRpcError(t.error, 'UNAVAILABLE'), `a call while open got ${describeErr(t.error)}, not UNAVAILABLE (CircuitOpenError)`).toBe(true);
      expect(s.guarded.circuit).toBe('open');
    });

    it('counts timeouts as failures: after consecutiveFailures timeouts, calls fail at once instead of waiting timeoutMs each', async () => {
      const s = setup();
      await trip(s, 'hang');
      const out = await s.calls(50); // the clock does not move: only a call that fails fast settles
      const waiting = out.filter((t) => !t.settled).length;
      expect(
        waiting,
        `${waiting} of 50 calls waited on the hanging shard after ${OPTS.consecutiveFailures} timeouts in a row: timeouts did not open the circuit (each call pays the ${OPTS.timeoutMs} ms timeout)`,
      ).toBe(0);
      expect(s.shard.state.arrivals - OPTS.consecutiveFailures, 'calls reached the hanging shard while the circuit should be open').toBe(0);
      await vi.advanceTimersByTimeAsync(OPTS.timeoutMs);
    });

    it('does not count the caller’s bad requests (INVALID_ARGUMENT) against the shard', async () => {
      const s = setup();
      s.shard.state.mode = 'bad';
      const bad: Tracked[] = [];
      for (let i = 0; i < 20; i++) bad.push(...(await s.calls(1))); // one after another: each failure is seen before the next call
      const refused = bad.filter((t) => !isRpcError(t.error, 'INVALID_ARGUMENT')).length;
      expect(
        refused,
        `INVALID_ARGUMENT answers (the caller's bad requests; the shard is fine) opened the circuit: ${refused} of 20 calls in a row never reached the shard`,
      ).toBe(0);
      s.shard.state.mode = 'up';
      const [next] = await s.calls(1);
      expect(next.value, `a healthy shard's call failed after bad requests: ${describeErr(next.error)}`).toBeDefined();
      expect(s.guarded.circuit).toBe('closed');
    });

    it('lets exactly one probe through after halfOpenAfterMs; if it fails, the circuit opens for another cool-down', async () => {
      const s = setup();
      await trip(s, 'error');
      await vi.advanceTimersByTimeAsync(OPTS.halfOpenAfterMs + 1);
      const before = s.shard.state.arrivals;
      await s.calls(20);
      const probes = s.shard.state.arrivals - before;
      expect(
        probes,
        probes === 0
          ? `no call reached the shard after the cool-down: the circuit never half-opens to probe it`
          : `${probes} calls reached the still-dead shard after the cool-down, not one probe: the half-open state let everyone in at once`,
      ).toBe(1);
      expect(s.guarded.circuit, 'the probe failed, so the circuit should be open again').toBe('open');
      await s.calls(20);
      expect(s.shard.state.arrivals - before, 'calls reached the shard before the next cool-down ended').toBe(1);
    });

    it('fails calls fast while the probe is in flight (they do not wait for its outcome)', async () => {
      const s = setup();
      await trip(s, 'hang');
      await vi.advanceTimersByTimeAsync(OPTS.halfOpenAfterMs + 1);
      const [probe, ...rest] = await s.calls(20); // the clock does not move: the probe hangs
      const waiting = rest.filter((t) => !t.settled).length;
      expect(
        waiting,
        `${waiting} of 19 calls made while the half-open probe was in flight did not fail fast: they wait (for the probe's outcome or on the shard), each up to the ${OPTS.timeoutMs} ms timeout`,
      ).toBe(0);
      expect(probe.settled, 'the probe itself should wait for the shard').toBe(false);
      await vi.advanceTimersByTimeAsync(OPTS.timeoutMs);
      await flush();
      expect(isRpcError(probe.error, 'DEADLINE_EXCEEDED'), `the probe: ${describeErr(probe.error)}`).toBe(true);
    });

    it('puts a recovered shard back in use within halfOpenAfterMs: one probe succeeds, the circuit closes, every call reaches it', async () => {
      const s = setup();
      await trip(s, 'error');
      s.shard.state.mode = 'up';
      let t = 0;
      let first = -1;
      while (t <= 3 * OPTS.halfOpenAfterMs && first < 0) {
        const [c] = await s.calls(1);
        if (c.value !== undefined) first = t;
        await vi.advanceTimersByTimeAsync(50);
        t += 50;
      }
      expect(
        first >= 0 && first <= OPTS.halfOpenAfterMs + 50,
        first < 0
          ? `the shard recovered, but every call still failed fast ${3 * OPTS.halfOpenAfterMs} ms later: the circuit never half-opens to probe it`
          : `the first call answered ${first} ms after the shard recovered, more than halfOpenAfterMs (${OPTS.halfOpenAfterMs})`,
      ).toBe(true);
      expect(s.guarded.circuit).toBe('closed');
      const out = await s.calls(50);
      const failed = out.filter((c) => c.value === undefined).length;
      expect(failed, `${failed} of 50 calls failed after the probe succeeded: the circuit did not close`).toBe(0);
    });
  });
});
