/**
 * Wrong (on purpose): liveness on /readyz ("restart it when it cannot answer"). /readyz fails when a dependency is
 * down (the gateway with no shard, a shard behind on its write log): every pod fails it at the same moment and is
 * restarted, which brings the dependency back no sooner and empties the service while it does.
 *
 * What differs from after.ts: livenessProbe.path '/readyz'.
 *
 * @rejected-with outage of a dependency restarted
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const set = right(m);
  return { ...set, liveness: { ...set.liveness!, path: '/readyz' } };
}
