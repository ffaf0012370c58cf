/**
 * After: alert on what the SLO is about, the way the Google SRE workbook does ("Alerting on SLOs").
 *
 * - **Latency: the quantile, not the mean.** `histogram_quantile(0.99, …)` over 5 minutes above 200 ms, for 10
 *   minutes: the tail the target is about, read from the histogram's buckets (0.15, 0.2, 0.25 s around the target),
 *   held long enough that a 2-minute GC storm does not wake anyone.
 * - **Errors: the rate the error budget burns, not a count.** The budget of a 99.9% SLO is 0.1% of the queries over
 *   30 days. A burn rate of 1 spends exactly that in 30 days; 14.4 spends 2% of it in 1 hour; 6 spends 5% in 6 hours.
 *   Page when the error ratio is over 14.4 × 0.1% in the last hour **and** the last 5 minutes, or over 6 × 0.1% in
 *   the last 6 hours and 30 minutes. Open a ticket at 3× over 1 day (and 2 h), or 1× over 3 days (and 6 h).
 *   A ratio does not care about traffic (a surge at the usual 0.05% stays at a burn rate of 0.5); the long window
 *   makes the alert care about budget spent, not blips; the short window (1/12 of the long) makes it stop soon after
 *   the incident ends, instead of paging for as long as the long window remembers it.
 */
import type { AlertSpec, Slo } from './alerting.ts';

export { SLO, type AlertSpec, type Slo } from './alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return [
    {
      kind: 'burn-rate',
      name: 'RagErrorBudgetBurnFast',
      severity: 'page',
      windows: [
        { long: '1h', short: '5m', factor: 14.4 },
        { long: '6h', short: '30m', factor: 6 },
      ],
    },
    {
      kind: 'burn-rate',
      name: 'RagErrorBudgetBurnSlow',
      severity: 'ticket',
      windows: [
        { long: '1d', short: '2h', factor: 3 },
        { long: '3d', short: '6h', factor: 1 },
      ],
    },
    {
      kind: 'latency-quantile',
      name: 'RagLatencyP99High',
      severity: 'page',
      quantile: slo.latencyQuantile,
      thresholdSeconds: slo.latencyTargetSeconds,
      window: '5m',
      for: '10m',
    },
  ];
}
