/**
 * Wrong (on purpose): page when the error ratio over 5 minutes is above the budget itself (0.1% for 99.9%). It reads
 * the right quantity (a ratio: traffic surges are fine) but at a burn rate of 1 over a short window: any blip pages,
 * though a 1-minute blip spends about 1% of the month's budget.
 *
 * What differs from after.ts: one `error-ratio` page at 1 − objective over 5 m instead of the burn-rate alerts.
 *
 * @rejected-with paged on the 1-minute blip
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';
import { budget } from '../alerting.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return [
    { kind: 'error-ratio', name: 'RagErrorRatio', severity: 'page', threshold: budget(slo), window: '5m' },
    ...good(slo).filter((s) => s.kind !== 'burn-rate'),
  ];
}
