/**
 * Wrong (on purpose): no startup probe; liveness (every 1 s, 3 failures) runs from the first second. A warm start
 * (1-2 s) passes; a cold one (the index read from a cold disk, a busy node: 8 s measured) is killed as "stuck" after
 * 3 s, and the next start is just as cold: a crash loop that never serves.
 *
 * What differs from after.ts: `plan` has no startup probe.
 *
 * @rejected-with a slow start is killed
 */
import * as after from '../after.ts';
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from '../after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from '../after.ts';
export { STUCK_MS } from '../after.ts';

export const liveness = after.liveness;
export const readiness = after.readiness;
export function plan(m: Measured): HealthPlan {
  return { ...after.plan(m), startup: undefined };
}
export const shutdown = (s: ShutdownSteps, p: HealthPlan): Promise<void> => after.shutdown(s, p);
