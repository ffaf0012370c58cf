/**
 * Wrong: "the GC share is lowest at 64 MB, so 64 MB", with the old space worked out as the rest of the budget beside
 * a 16 MB semi-space and left as it was. The young generation costs three times its semi-space in heap limit: 192 MB
 * of it plus the old space is far over the worker's budget, and four workers like this do not fit the machine.
 *
 * What differs from after.ts: chooseSettings, its only function (a 64 MB semi-space, the old space sized for 16 MB;
 * no check of the budget).
 *
 * @rejected-with over the worker's budget
 */
import type { GcSettings, LoadProfile } from '../after.ts';

export type { GcSettings, LoadProfile } from '../after.ts';

export function chooseSettings(load: LoadProfile): GcSettings {
  return { semiSpaceMB: 64, oldSpaceMB: Math.floor(load.budgetMB - 3 * 16) };
}
