/**
 * Checkpoint for 14-health-checks: what each probe answers, the probes' timings derived from the measured start-up,
 * and the shutdown sequence. `npm run checkpoint -- 14-health-checks` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (the tests it is meant to fail are marked) and after.ts.
 *
 * The shutdown runs in sim.ts's world: virtual ms, a balancer that learns only from the readiness probe, a client
 * every 5 ms, requests of 100 ms, one long request; requests are counted (answered, refused, cut), nothing is timed.
 * The real processes (a rolling restart and a Redis blip under load, with a kubelet-like probe driver) are the
 * bench's, and shared/services/probe-driver.test.ts's.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { HealthPlan, Measured, PodHealth } from './after.ts';
import { restartsDuringBlip, simulateShutdown } from './sim.ts';

type Mod = typeof import('./after.ts');

const MEASURED: Measured = { startupMs: 8_000, longestRequestMs: 300 };
const OK: PodHealth = { eventLoopDelayMs: 3, warm: true, depsOk: true, shuttingDown: false };

/** How long after a process starts the kubelet may kill it as "not live", ms: the startup probe's budget, or liveness's when there is none. */
function killBudgetMs(p: HealthPlan): number {
  const pr = p.startup ?? p.liveness;
  return pr.periodMs * pr.failureThreshold;
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const naive = name === 'before';

  it.skipIf(naive)('liveness asks only what a restart cures: a Redis blip is no reason to restart', () => {
    const p = impl.plan(MEASURED);
    const restarted = restartsDuringBlip(impl, p, 3, 5_000);
    expect(
      impl.liveness({ ...OK, depsOk: false }),
      `liveness is false while Redis is down: a Redis blip restarts every replica (${restarted} of 3 in a 5 s blip), and the outage grows by their start-up`,
    ).toBe(true);
    expect(impl.liveness({ ...OK, warm: false }), 'liveness false while still warming: a process that is starting is not stuck').toBe(true);
    expect(impl.liveness({ ...OK, shuttingDown: true }), 'liveness false while shutting down: the kubelet would kill the drain it asked for').toBe(true);
    expect(impl.liveness({ ...OK, eventLoopDelayMs: 30_000 }), 'liveness true with the event loop blocked for 30 s: a stuck process is never restarted').toBe(false);
  });

  it.skipIf(naive)('readiness says whether a request can be answered now: warm, dependencies up, not shutting down', () => {
    expect(impl.readiness(OK), 'not ready though warm, with Redis up and no shutdown').toBe(true);
    expect(impl.readiness({ ...OK, depsOk: false }), 'ready while Redis is down: its requests would fail there').toBe(false);
    expect(impl.readiness({ ...OK, warm: false }), 'ready before warm: the first requests pay the cold start').toBe(false);
    expect(impl.readiness({ ...OK, shuttingDown: true }), 'readiness still 200 after SIGTERM: the balancer keeps sending to a process that is leaving').toBe(false);
  });

  it.skipIf(naive)('the startup probe covers the measured start-up with room (a cold start is not killed as stuck)', () => {
    const p = impl.plan(MEASURED);
    const budget = killBudgetMs(p);
    expect(
      budget,
      `a slow start is killed: ${p.startup ? 'the startup probe' : 'with no startup probe, liveness'} may kill a starting process after ${budget} ms, a cold start takes ${MEASURED.startupMs} ms (want at least 1.5× that)`,
    ).toBeGreaterThanOrEqual(1.5 * MEASURED.startupMs);
    expect(p.drainMs, `drain deadline ${p.drainMs} ms is shorter than the longest request (${MEASURED.longestRequestMs} ms)`).toBeGreaterThanOrEqual(MEASURED.longestRequestMs);
    expect(p.terminationGraceMs, `the kubelet's SIGKILL at ${p.terminationGraceMs} ms comes before preStop ${p.preStopMs} + drain ${p.drainMs} ms are over`).toBeGreaterThan(p.preStopMs + p.drainMs);
  });

  it.skipIf(naive)('a shutdown fails no request: readiness off, the balancer leaves, then drain with a deadline', async () => {
    const p = impl.plan(MEASURED);
    const r = await simulateShutdown(impl, { plan: p });
    const story = `steps after SIGTERM: ${r.steps.join(', ') || 'none'}; balancer left after ${r.leftBalancerAfterMs ?? 'never'} ms; listener closed after ${r.closedAfterMs ?? 'never'} ms`;
    expect(r.cut, `in-flight requests cut: ${r.cut} requests in flight were cut (SIGTERM → exit at once drops them). ${story}`).toBe(0);
    expect(
      r.refused,
      `the listener closed while the balancer still sent: ${r.refused} requests refused, it closed ${r.closedAfterMs} ms after SIGTERM and the balancer left after ${r.leftBalancerAfterMs ?? 'never'} ms (readiness ${p.readiness.periodMs} ms × ${p.readiness.failureThreshold}: wait that long before closing). ${story}`,
    ).toBe(0);
    expect(r.answered, 'no request answered at all').toBeGreaterThan(100);
    expect(r.exitedAfterMs, `never exited by itself: the kubelet's SIGKILL at ${p.terminationGraceMs} ms ended it (a drain with no deadline waits for the long request). ${story}`).toBeDefined();
    expect(r.longOutcome, `the ${60} s request was not cut at the drain deadline. ${story}`).toBe('cut');
    expect(r.exitedAfterMs!, story).toBeLessThanOrEqual(p.preStopMs + p.drainMs + 50);
  });

  it.runIf(naive)('before: SIGTERM → exit at once fails requests; liveness restarts on a Redis blip', async () => {
    const p = impl.plan(MEASURED);
    const r = await simulateShutdown(impl, { plan: p });
    expect(r.cut + r.refused).toBeGreaterThan(0);
    expect(restartsDuringBlip(impl, p, 3, 5_000)).toBe(3);
    expect(killBudgetMs(p)).toBeLessThan(MEASURED.startupMs);
  });
});
