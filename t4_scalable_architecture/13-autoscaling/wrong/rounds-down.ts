/**
 * Wrong (on purpose): Math.floor where Kubernetes uses Math.ceil. 4 pods at 130% of the target carry 5.2 pods'
 * worth of load; 5 pods leave each of them at 104%, over the target the user asked for, and a ratio under 1/n over
 * (say 4 pods at 120%: 4.8) never scales up at all.
 *
 * What differs from after.ts: hand-scaler.ts (the same rule, written out) with `roundDown: true`.
 *
 * @rejected-with rounded down
 */
import type { Scaler, ScalerOptions } from '../after.ts';
import { handScaler } from '../hand-scaler.ts';

export type { PodMetric, Scaler, ScalerOptions } from '../after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return handScaler(o, { roundDown: true });
}
