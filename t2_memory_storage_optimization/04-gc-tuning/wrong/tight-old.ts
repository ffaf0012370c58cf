/**
 * Wrong: the young generation is right, and the old space is cut to "what the live heap needs, plus a quarter". The
 * old generation then runs near its cap: V8 must mark and compact the whole heap each time the little room left
 * fills up, and a burst of promotions (slow queries, an ingest) ends in an out-of-memory crash.
 *
 * What differs from after.ts: chooseSettings, its only function (the old space at 1.25 × the live heap instead of
 * the rest of the budget, at least twice the live heap).
 *
 * @rejected-with less than twice the live heap
 */
import type { GcSettings, LoadProfile } from '../after.ts';

export type { GcSettings, LoadProfile } from '../after.ts';

export function chooseSettings(load: LoadProfile): GcSettings {
  return { semiSpaceMB: 16, oldSpaceMB: Math.ceil(1.25 * load.liveHeapMB) };
}
