/**
 * Wrong: the half-way step: the semi-space raised from 1 to 4 MB and the old space given the rest of the budget.
 * Scavenges are four times rarer than before, but still one per 4 MB allocated, every hundred-odd queries: the GC
 * share has only begun to fall (the semi-space sweep in the benchmark shows where it flattens).
 *
 * What differs from after.ts: chooseSettings, its only function (a 4 MB semi-space instead of 16 MB; no check of
 * the budget).
 *
 * @rejected-with per scavenge
 */
import type { GcSettings, LoadProfile } from '../after.ts';

export type { GcSettings, LoadProfile } from '../after.ts';

export function chooseSettings(load: LoadProfile): GcSettings {
  return { semiSpaceMB: 4, oldSpaceMB: Math.floor(load.budgetMB - 3 * 4) };
}
