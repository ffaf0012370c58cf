/**
 * Wrong (on purpose): readiness goes false and the server drains at once (`server.close()` on SIGTERM, the usual
 * "graceful shutdown" snippet). In-flight requests finish, but the balancer has not probed since: it goes on sending
 * to a closed listener for up to one readiness period × failure threshold.
 *
 * What differs from after.ts: no wait between `notReady()` and `drain()`.
 *
 * @rejected-with the listener closed while the balancer still sent
 */
import * as after from '../after.ts';
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from '../after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from '../after.ts';
export { STUCK_MS } from '../after.ts';

export const liveness = after.liveness;
export const readiness = after.readiness;
export const plan = (m: Measured): HealthPlan => after.plan(m);
export async function shutdown(steps: ShutdownSteps, p: HealthPlan): Promise<void> {
  steps.notReady();
  let drained = false;
  const drain = steps.drain().then(() => (drained = true));
  await Promise.race([drain, steps.sleep(p.drainMs)]);
  if (!drained) steps.cutAll();
  steps.exit(0);
}
