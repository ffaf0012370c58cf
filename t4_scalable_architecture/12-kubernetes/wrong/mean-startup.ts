/**
 * Wrong (on purpose): the start-up budget is the mean start-up. Half the starts here are slower than the mean,
 * and in the pod (a CPU limit, a cold page cache) every start is slower than here: the startup probe kills them
 * while they load, and they start again, as slowly.
 *
 * What differs from after.ts: failureThreshold from the mean, no 3× margin, no allowance.
 *
 * @rejected-with pods still starting
 */
import type { ProbeSet, StartupMeasure } from '../after.ts';
import { probeTimings as right } from '../after.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../after.ts';
export { manifests } from '../after.ts';

export function probeTimings(m: StartupMeasure): ProbeSet {
  const mean = m.startupMs.reduce((a, b) => a + b, 0) / m.startupMs.length;
  const set = right(m);
  return { ...set, startup: { ...set.startup!, failureThreshold: Math.ceil(mean / 1000) + 1 } };
}
