/**
 * Wrong (on purpose): a liveness probe that gives up at the first missed answer (every 5 s, 1 failure, 1 s timeout).
 * A long GC pause or an event loop held by one big request misses one GET, and the pod is killed with every
 * request it was serving.
 *
 * What differs from after.ts: livenessProbe period 5 s, failureThreshold 1, timeout 1 s.
 *
 * @rejected-with event-loop stall restarted
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const set = right(m);
  return { ...set, liveness: { path: '/healthz', periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 1 } };
}
