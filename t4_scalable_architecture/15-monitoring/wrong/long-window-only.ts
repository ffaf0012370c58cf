/**
 * Wrong (on purpose): the burn rates and long windows of after.ts without their short windows. It pages on the right
 * incidents, but a 6-hour window remembers a 15-minute outage for 6 hours: the page keeps firing long after the
 * service is fine again, and the next incident hides behind it.
 *
 * What differs from after.ts: no `short` window in any pair.
 *
 * @rejected-with still paging
 */
import type { AlertSpec, Slo } from '../alerting.ts';
import { alertRules as good } from '../after.ts';

export { SLO, type AlertSpec, type Slo } from '../alerting.ts';

export function alertRules(slo: Slo): AlertSpec[] {
  return good(slo).map((s) => (s.kind === 'burn-rate' ? { ...s, windows: s.windows.map((w) => ({ long: w.long, factor: w.factor })) } : s));
}
