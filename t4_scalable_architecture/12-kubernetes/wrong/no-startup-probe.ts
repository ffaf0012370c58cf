/**
 * Wrong (on purpose): no startup probe; the liveness probe waits with initialDelaySeconds instead. The delay is
 * paid on every start, fast or slow, and a start slower than it is killed all the same; the startup probe is what
 * holds liveness off exactly as long as a start takes.
 *
 * What differs from after.ts: no startup probe, livenessProbe.initialDelaySeconds = the start-up budget.
 *
 * @rejected-with no startup probe
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const set = right(m);
  const budget = set.startup!.failureThreshold - 1;
  return { readiness: set.readiness, liveness: { ...set.liveness!, initialDelaySeconds: budget } };
}
