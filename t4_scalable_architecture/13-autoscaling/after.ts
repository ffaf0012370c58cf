/**
 * 13-autoscaling, after: the Horizontal Pod Autoscaler's rule, as Kubernetes computes it.
 *
 * Every sync (15 s in a cluster), from the pods' metric (QPS per replica here, `rag_gateway_requests_per_second`):
 *
 * - **The ratio over the ready pods**: usageRatio = average of the ready pods' samples ÷ target, and
 *   desired = ceil(usageRatio × readyPods). Rounded **up**: 5.2 pods' worth of load needs 6 pods.
 * - **The tolerance**: within |1 − ratio| ≤ 0.1 nothing changes. The load always wobbles a little around the
 *   target; without it every wobble adds or removes a pod.
 * - **Pods still starting** are not ready and carry nothing yet: they are left out of the average, and on a
 *   scale-up counted as idle pods that are coming, so the scale-up already asked for is not asked for again (and
 *   again) while they start.
 * - **Scale-down stabilization**: the count used is the *highest* recommendation of the last
 *   `scaleDownStabilizationMs` (300 s by default), so a dip removes nothing and only a sustained drop does. Scale-up
 *   acts at once (its window is 0).
 * - **min/max replicas** bound the result; the default rate policies (up: +100% or +4 pods per 15 s, whichever is
 *   more; down: −100% per 15 s) limit how fast.
 *
 * The engine's implementation is `HpaController` in shared/services/autoscale.ts (replica_calculator.go and
 * horizontal.go's rules, with the autoscaling/v2 behaviour fields); this file sets it up for one Pods metric.
 */
import { DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, DEFAULT_TOLERANCE, HpaController, type PodMetric } from '../../shared/services/autoscale.ts';

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
  /**
   * At `now` (ms, the scaler's clock), with `current` pods (those still starting included) whose samples are `pods`
   * (one per pod: `ready`, and its metric `value` when it has one), the replica count to set.
   */
  decide(now: number, current: number, pods: readonly PodMetric[]): number;
}

export function createScaler(o: ScalerOptions): Scaler {
  const hpa = new HpaController({
    name: 'scaler',
    minReplicas: o.minReplicas,
    maxReplicas: o.maxReplicas,
    metrics: [{ type: 'Pods', name: 'qps', averageValue: o.target }],
    behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: { ...DEFAULT_SCALE_DOWN, stabilizationWindowSeconds: (o.scaleDownStabilizationMs ?? 300_000) / 1000 } },
    tolerance: o.tolerance ?? DEFAULT_TOLERANCE,
    syncPeriodSeconds: 15,
  });
  return { decide: (now, current, pods) => hpa.reconcile(now, current, [pods]).desired };
}
