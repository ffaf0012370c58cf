/**
 * Wrong (on purpose): scales down to the current recommendation at once. A dip of a minute removes half the pods,
 * the load comes back, and the pods are started again: each restart a cold start during which the remaining pods
 * take the whole load. Kubernetes keeps the highest recommendation of the last 300 s before it scales down.
 *
 * What differs from after.ts: hand-scaler.ts (the same rule, written out) with `noDownWindow: true`.
 *
 * @rejected-with the scale-down stabilization window
 */
import type { Scaler, ScalerOptions } from '../after.ts';
import { handScaler } from '../hand-scaler.ts';

export type { PodMetric, Scaler, ScalerOptions } from '../after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return handScaler(o, { noDownWindow: true });
}
