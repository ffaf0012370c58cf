/**
 * BEFORE 14-health-checks: the health checks people write first.
 *
 * - One health handler for both probes, and it pings Redis ("healthy means my dependencies answer"). As a liveness
 *   probe that restarts every replica when Redis blips: all of them fail the same probe at the same moment.
 * - Readiness never looks at shutdown: the process says "ready" until its port closes.
 * - No startup probe: liveness runs from the first second, with a budget (3 × 1.5 s) tuned once on a warm laptop;
 *   a cold start that takes longer is killed as "stuck", and the next start is as cold.
 * - SIGTERM exits at once (what Node does with no handler): requests in flight are cut, kept-alive connections are
 *   reset, and the balancer goes on sending to the closed port until its next readiness probes fail.
 */
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from './after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from './after.ts';
export { STUCK_MS } from './after.ts';

export function liveness(h: PodHealth): boolean {
  return h.depsOk;
}

export function readiness(h: PodHealth): boolean {
  return h.depsOk;
}

export function plan(m: Measured): HealthPlan {
  return {
    startup: undefined,
    liveness: { periodMs: 1_500, failureThreshold: 3, timeoutMs: 1_000 },
    readiness: { periodMs: 250, failureThreshold: 2, timeoutMs: 1_000 },
    preStopMs: 0,
    drainMs: m.longestRequestMs,
    terminationGraceMs: 30_000,
  };
}

export async function shutdown(steps: ShutdownSteps, _p: HealthPlan): Promise<void> {
  steps.exit(0);
}
