/**
 * Wrong (on purpose): the shutdown waits (the preStop delay) before it closes, but readiness never looks at it: the
 * balancer sees 200 until the port closes, so the wait buys nothing and the requests it sends after the close fail.
 *
 * What differs from after.ts: readiness ignores `shuttingDown`.
 *
 * @rejected-with readiness still 200 after SIGTERM
 */
import * as after from '../after.ts';
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from '../after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from '../after.ts';
export { STUCK_MS } from '../after.ts';

export const liveness = after.liveness;
export function readiness(h: PodHealth): boolean {
  return h.warm && h.depsOk;
}
export const plan = (m: Measured): HealthPlan => after.plan(m);
export const shutdown = (s: ShutdownSteps, p: HealthPlan): Promise<void> => after.shutdown(s, p);
