/**
 * 13-autoscaling, before: the autoscaler people write first: as many replicas as the load needs, right now.
 *
 * desired = ceil(load the ready pods carry ÷ target), within min/max, at every sync. It reads right (it even leaves
 * out the pods still starting, and rounds up), and it flaps: the load wobbles a few percent around the target, so
 * every other sync adds a pod or removes one, and a dip of a minute removes pods that are needed again a minute
 * later (each one a cold start: 20-30 s of index load in which it serves nothing). `tolerance` and
 * `scaleDownStabilizationMs` are accepted and ignored.
 */
import type { PodMetric, Scaler, ScalerOptions } from './after.ts';

export type { PodMetric, Scaler, ScalerOptions } from './after.ts';

export function createScaler(o: ScalerOptions): Scaler {
  return {
    decide(_now: number, current: number, pods: readonly PodMetric[]): number {
      const ready = pods.filter((p) => p.ready && p.value !== undefined);
      if (ready.length === 0) return Math.min(o.maxReplicas, Math.max(o.minReplicas, current));
      const load = ready.reduce((s, p) => s + (p.value ?? 0), 0);
      return Math.min(o.maxReplicas, Math.max(o.minReplicas, Math.ceil(load / o.target)));
    },
  };
}
