/**
 * Wrong (on purpose): the p99 alert pages the minute the 5-minute p99 passes 200 ms, with no `for`. A 2-minute GC
 * storm (10% of queries at 600 ms) drives the 5-minute p99 over the target for a few minutes and wakes someone for
 * something that was over before they opened the laptop.
 *
 * What differs from after.ts: the latency alert has no `for: 10m`.
 *
 * @rejected-with paged on the 2-minute latency spike
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return good(slo).map((s) => (s.kind === 'latency-quantile' ? { ...s, for: undefined } : s));
}
