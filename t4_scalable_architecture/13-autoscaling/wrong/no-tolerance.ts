/**
 * Wrong (on purpose): the ratio rule without its tolerance. The load wobbles a few percent around the target all
 * day; at 4 pods, 5% over the target asks for ceil(4 × 1.05) = 5 pods, and the next dip for 4 again: a pod started
 * (20-30 s of cold start, serving nothing) or stopped on noise, over and over.
 *
 * What differs from after.ts: hand-scaler.ts (the same rule, written out) with `noTolerance: true`.
 *
 * @rejected-with within the 10% tolerance
 */
import type { Scaler, ScalerOptions } from '../after.ts';
import { handScaler } from '../hand-scaler.ts';

export type { PodMetric, Scaler, ScalerOptions } from '../after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return handScaler(o, { noTolerance: true });
}
