/**
 * A hand-written HPA rule with a switch for each wrong idea of lesson 13's checkpoint (the wrong/ files are one line
 * each over it). With every switch at its right value it decides what after.ts (Kubernetes' HpaController) decides
 * on the checkpoint's scenarios; it has no rate policies.
 */
import type { PodMetric, Scaler, ScalerOptions } from './after.ts';

export interface Mistakes {
  /** Ignore the tolerance: every deviation from the target changes the count. */
  noTolerance?: boolean;
  /** Scale down to the current recommendation at once (no stabilization window). */
  noDownWindow?: boolean;
  /** Bound by minReplicas only. */
  ignoreMax?: boolean;
  /** Math.floor instead of Math.ceil. */
  roundDown?: boolean;
  /** Multiply the ready pods' ratio by every pod (those still starting too): ceil(current × ratio). */
  countUnready?: boolean;
}

export function handScaler(o: ScalerOptions, m: Mistakes = {}): Scaler {
  const tol = m.noTolerance ? 0 : (o.tolerance ?? 0.1);
  const window = m.noDownWindow ? 0 : (o.scaleDownStabilizationMs ?? 300_000);
  const round = m.roundDown ? Math.floor : Math.ceil;
  let recs: { at: number; n: number }[] = [];
  const bound = (n: number) => Math.max(o.minReplicas, m.ignoreMax ? n : Math.min(o.maxReplicas, n));
  return {
    decide(now: number, current: number, pods: readonly PodMetric[]): number {
      const ready = pods.filter((p) => p.ready && p.value !== undefined).map((p) => p.value as number);
      const starting = pods.filter((p) => !p.ready).length;
      let proposed = current;
      if (ready.length > 0) {
        const sum = ready.reduce((s, v) => s + v, 0);
        const ratio = sum / ready.length / o.target;
        if (Math.abs(1 - ratio) > tol) {
          if (m.countUnready) proposed = round(ratio * current);
          else if (ratio > 1 && starting > 0) {
            // the pods still starting count as idle pods that are coming
            const r2 = sum / (ready.length + starting) / o.target;
            proposed = Math.abs(1 - r2) <= tol || r2 < 1 ? current : round(r2 * (ready.length + starting));
          } else proposed = round(ratio * ready.length);
        }
      }
      recs = recs.filter((r) => r.at > now - window);
      recs.push({ at: now, n: proposed });
      const stabilized = proposed >= current ? proposed : Math.min(current, Math.max(...recs.map((r) => r.n)));
      return bound(stabilized);
    },
  };
}
