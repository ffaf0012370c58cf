/**
 * EXERCISE 15-monitoring: alert on the SLO, not on what is easy to measure.
 *
 * As shipped it is before.ts: a page when the mean latency over 5 minutes passes 200 ms, and a page when more than
 * 50 queries fail in 5 minutes. Replayed on the incident set (alerting.ts `incidentSet`), it misses a tail-latency
 * incident and pages for a traffic surge, a 1-minute blip and a slow burn that deserved a ticket.
 *
 * `alertRules(slo)` returns the alerts as data (`AlertSpec`, alerting.ts): kinds `burn-rate` (long/short window
 * pairs and a factor; the threshold is factor × (1 − objective)), `error-ratio`, `error-count`, `latency-quantile`,
 * `latency-average`; each with a name, a severity ('page' wakes someone, 'ticket' waits for working hours) and an
 * optional `for`. Windows of burn-rate alerts must be ones deploy/prometheus/rules/recording.yml records: 5m, 30m,
 * 1h, 2h, 6h, 1d, 3d. `renderAlert` turns a spec into the Prometheus rule.
 *
 * What must hold (checked by `npm run checkpoint -- 15-monitoring`: the incident set replayed minute by minute, the
 * way Prometheus evaluates rules; counted, nothing timed). For the seed's SLO (99.9% over 30 days, p99 < 200 ms):
 *   - a page for: a 15-minute full outage, 5% of queries failing for 1 h, 2% failing for 3 h, and 3% of queries at
 *     450 ms for 2 h (the mean stays under 50 ms);
 *   - a ticket, not a page, for 0.4% of queries failing for 36 h (the budget gone in a week);
 *   - nothing for: 10× the traffic at the usual error ratio, half the queries failing for 1 minute, 10% of queries at
 *     600 ms for 2 minutes, a normal day;
 *   - every page stops within 35 minutes of the end of its incident.
 *
 * Then see your rules' score (missed incidents, false pages, detection delay) beside before and after:
 *   npm run t4 -- --only 15-monitoring --impl exercise --quick
 * Stuck? npm run hint -- 15-monitoring
 */
import type { AlertSpec, Slo } from './alerting.ts';

export { SLO, type AlertSpec, type Slo } from './alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  // TODO: alert on the quantile the latency target is about, and on how fast the error budget burns (pages for fast
  // burns, a ticket for slow ones), each over windows that ignore blips and stop soon after the incident ends.
  return [
    { kind: 'latency-average', name: 'RagLatencyHigh', severity: 'page', thresholdSeconds: slo.latencyTargetSeconds, window: '5m', for: '5m' },
    { kind: 'error-count', name: 'RagErrors', severity: 'page', threshold: 50, window: '5m' },
  ];
}
