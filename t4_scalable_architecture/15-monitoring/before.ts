/**
 * Before: the alerts people write first. "Latency is bad" becomes the mean latency over 5 minutes above the 200 ms
 * target; "errors are bad" becomes a count of 5xx over 5 minutes above a number that looked right on a normal day.
 *
 * Both read the wrong quantity. A mean hides the tail: 3% of queries at 450 ms move it from 35 to 47 ms, while the
 * p99 the target is about passes 300 ms. A count scales with traffic, not with harm: 10× the queries at the usual
 * 0.05% failing crosses it, and so does a 1-minute blip that spent 1% of the month's error budget; while a slow burn
 * that will spend the whole budget in a week stays under it most of the day.
 */
import type { AlertSpec, Slo } from './alerting.ts';

export { SLO, type AlertSpec, type Slo } from './alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return [
    { kind: 'latency-average', name: 'RagLatencyHigh', severity: 'page', thresholdSeconds: slo.latencyTargetSeconds, window: '5m', for: '5m' },
    { kind: 'error-count', name: 'RagErrors', severity: 'page', threshold: 50, window: '5m' },
  ];
}
