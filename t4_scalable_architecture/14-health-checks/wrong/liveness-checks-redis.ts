/**
 * Wrong (on purpose): liveness pings Redis ("healthy means my dependencies answer"). When Redis blips, every replica
 * fails the same probe at the same moment and the kubelet restarts all of them: Redis back after 5 s, the service
 * back only after every replica started again, warm and ready.
 *
 * What differs from after.ts: liveness is false while Redis is down.
 *
 * @rejected-with a Redis blip restarts every replica
 */
import * as after from '../after.ts';
import type { HealthPlan, Measured, PodHealth, ShutdownSteps } from '../after.ts';

export type { HealthPlan, Measured, PodHealth, Probe, ShutdownSteps } from '../after.ts';
export { STUCK_MS } from '../after.ts';

export function liveness(h: PodHealth): boolean {
  return h.depsOk && h.eventLoopDelayMs < after.STUCK_MS;
}
export const readiness = after.readiness;
export const plan = (m: Measured): HealthPlan => after.plan(m);
export const shutdown = (s: ShutdownSteps, p: HealthPlan): Promise<void> => after.shutdown(s, p);
