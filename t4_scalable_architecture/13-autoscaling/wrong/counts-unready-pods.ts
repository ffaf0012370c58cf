/**
 * Wrong (on purpose): ceil(current × ratio), where current counts the pods still starting. The ratio is measured on
 * the ready pods only, so while new pods start (20-30 s, one or two syncs) the same overload is seen again and
 * multiplied by a count that already includes the pods asked for last time: 2 → 4 → 8 → 10 for load that 4 carry.
 * Kubernetes counts a starting pod as an idle pod that is coming, so the scale-up already made is not made again.
 *
 * What differs from after.ts: hand-scaler.ts (the same rule, written out) with `countUnready: true`.
 *
 * @rejected-with still starting
 */
import type { Scaler, ScalerOptions } from '../after.ts';
import { handScaler } from '../hand-scaler.ts';

export type { PodMetric, Scaler, ScalerOptions } from '../after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return handScaler(o, { countUnready: true });
}
