/**
 * Wrong (on purpose): one generous start-up budget for every service, 30 s, whatever it measured. It fits the
 * services measured here, and it is a guess: a service that loads a bigger index, or a bigger model, and starts in
 * 20 s needs 60 s, and is killed in a loop.
 *
 * What differs from after.ts: startupProbe.failureThreshold 31 (30 s), not derived from the samples.
 *
 * @rejected-with a service that starts in up to 20 s
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const set = right(m);
  return { ...set, startup: { ...set.startup!, failureThreshold: 31 } };
}
