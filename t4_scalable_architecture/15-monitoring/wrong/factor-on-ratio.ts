/**
 * Wrong (on purpose): the windows of after.ts, with the workbook's numbers read as error ratios in percent ("14.4"
 * and "6" → 1.44% and 0.6% would be right; 14.4 × the budget is what the factor means) but written as factors of a
 * budget ten times too large, i.e. burn rates of 144 and 60. Only a full outage crosses them; 2% of queries failing
 * for 3 hours, which spends 12% of the month's budget, never pages.
 *
 * What differs from after.ts: every factor × 10.
 *
 * @rejected-with missed the 2% errors for 3 h incident
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return good(slo).map((s) => (s.kind === 'burn-rate' ? { ...s, windows: s.windows.map((w) => ({ ...w, factor: w.factor * 10 })) } : s));
}
