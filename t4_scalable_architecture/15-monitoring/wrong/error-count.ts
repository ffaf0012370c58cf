/**
 * Wrong (on purpose): the p99 alert of after.ts, but errors paged on a count: more than 50 failed queries in 5
 * minutes. A count follows traffic, not harm: 10× the queries at the usual 0.05% failing crosses it.
 *
 * What differs from after.ts: an `error-count` page instead of the two burn-rate alerts.
 *
 * @rejected-with paged on the traffic surge
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return [
    { kind: 'error-count', name: 'RagErrors', severity: 'page', threshold: 50, window: '5m' },
    ...good(slo).filter((s) => s.kind !== 'burn-rate'),
  ];
}
