/**
 * EXERCISE 13-autoscaling: decide how many replicas to run, the way the Horizontal Pod Autoscaler does.
 *
 * As shipped it is before.ts: at every sync, as many replicas as the load the ready pods carry needs, right now
 * (ceil(load ÷ target), within min/max). It flaps: the load wobbles around the target and dips for a minute, and
 * every wobble and every dip starts or stops pods, each start a cold start that serves nothing for 20-30 s.
 *
 * `createScaler({ target, minReplicas, maxReplicas, tolerance = 0.1, scaleDownStabilizationMs = 300_000 })` returns
 * `{ decide(now, current, pods) }`, called every sync (15 s) with the virtual time in ms, the pods that exist (those
 * still starting included) and each pod's sample (`{ ready, value? }`, value = the QPS it served). It returns the
 * replica count to set. Yours to decide: which pods the average is taken over, how it becomes a count, when a
 * change is too small to act on, and how long a lower count must be asked for before pods are removed.
 *
 * What must hold (checked by `npm run checkpoint -- 13-autoscaling` on a virtual clock, pods counted, nothing timed):
 *   - desired = ceil(ready pods × average of their samples ÷ target): 4 pods at 130 QPS (target 100) → 6;
 *   - within the tolerance (|1 − average/target| ≤ 0.1) the count does not change;
 *   - a scale-up happens at the next sync; a scale-down only once the lower count has been asked for during the
 *     whole `scaleDownStabilizationMs` (use the highest recommendation of that window);
 *   - never above maxReplicas, never below minReplicas;
 *   - pods still starting (`ready: false`) carry nothing yet, but they are coming: while they start, the same
 *     overload must not ask for more pods again.
 *
 * Then compare it with before and after on a simulated day and on real replica processes under a ramp:
 *   npm run t4 -- --only 13-autoscaling --impl exercise --quick
 * Stuck? npm run hint -- 13-autoscaling
 */
import type { PodMetric } from '../../shared/services/autoscale.ts';

export type { PodMetric } from '../../shared/services/autoscale.ts';

export interface ScalerOptions {
  /** The per-pod average the scaler aims at (e.g. 100 QPS per replica). */
  target: number;
  minReplicas: number;
  maxReplicas: number;
  /** No change while |1 − average/target| ≤ tolerance. Default 0.1 (Kubernetes' default). */
  tolerance?: number;
  /** A scale-down uses the highest recommendation of this window, ms. Default 300,000 (Kubernetes' default). */
  scaleDownStabilizationMs?: number;
}

/** Decides the replica count at each sync. */
export interface Scaler {
  /** At `now` (ms), with `current` pods (those still starting included) and their samples: the count to set. */
  decide(now: number, current: number, pods: readonly PodMetric[]): number;
}

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
