/**
 * Wrong (on purpose): SIGTERM → exit at once (`process.on('SIGTERM', () => process.exit(0))`, or no handler at all:
 * Node's default). Requests in flight are cut, kept-alive connections reset, and the balancer sends to a closed port
 * until its readiness probe fails.
 *
 * What differs from after.ts: the shutdown is `exit(0)`, nothing before it.
 *
 * @rejected-with in-flight requests cut
 */
import * as after from '../after.ts';
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from '../after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from '../after.ts';
export { STUCK_MS } from '../after.ts';

export const liveness = after.liveness;
export const readiness = after.readiness;
export const plan = (m: Measured): HealthPlan => after.plan(m);
export async function shutdown(steps: ShutdownSteps, _p: HealthPlan): Promise<void> {
  steps.exit(0);
}
