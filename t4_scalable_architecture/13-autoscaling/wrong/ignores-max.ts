/**
 * Wrong (on purpose): bounded below by minReplicas, not above by maxReplicas. maxReplicas is the budget (and what
 * the cluster, the database's connection limit or the license allows); a spike or a bad metric (a stuck counter, a
 * retry storm) then asks for any number of pods and gets them.
 *
 * What differs from after.ts: hand-scaler.ts (the same rule, written out) with `ignoreMax: true`.
 *
 * @rejected-with maxReplicas is 10
 */
import type { Scaler, ScalerOptions } from '../after.ts';
import { handScaler } from '../hand-scaler.ts';

export type { PodMetric, Scaler, ScalerOptions } from '../after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return handScaler(o, { ignoreMax: true });
}
