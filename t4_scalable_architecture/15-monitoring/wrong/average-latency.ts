/**
 * Wrong (on purpose): the burn-rate alerts of after.ts, but latency alerted on its mean over 5 minutes. 3% of queries
 * at 450 ms move the mean from 35 to 47 ms; the p99 the target is about passes 300 ms, and nobody is told.
 *
 * What differs from after.ts: `latency-average` instead of `latency-quantile`.
 *
 * @rejected-with missed the tail-latency incident
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return good(slo).map((s) =>
    s.kind === 'latency-quantile' ? { kind: 'latency-average', name: s.name, severity: s.severity, thresholdSeconds: slo.latencyTargetSeconds, window: s.window, for: s.for } : s,
  );
}
