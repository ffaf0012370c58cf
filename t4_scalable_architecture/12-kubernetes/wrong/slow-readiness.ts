/**
 * Wrong (on purpose): readiness checked every 10 s, out after 3 failures ("don't flap"). A pod whose shard went
 * away keeps receiving traffic for half a minute, and every request sent to it in that time fails or waits.
 *
 * What differs from after.ts: readinessProbe period 10 s, failureThreshold 3.
 *
 * @rejected-with kept traffic for
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const set = right(m);
  return { ...set, readiness: { ...set.readiness!, periodSeconds: 10, failureThreshold: 3 } };
}
