/**
 * The query workers' GC settings, chosen for the measured load (`LoadProfile`) within the worker's heap budget:
 *
 * - semi-space 16 MB. A scavenge costs about what survives it (the queries in flight), not what it frees, so fewer,
 *   larger scavenges cost less in total: the GC share falls steeply up to 4–8 MB, then by a few points per doubling
 *   (the benchmark's semi-space sweep), while each MB of semi-space costs 3 MB of heap limit (two semi-spaces and the
 *   new large-object space). 16 MB is well past the steep part and leaves most of the budget to the old space;
 * - old space: the rest of the budget, which must be at least twice the live heap. Between two mark-compacts V8
 *   lets the old generation grow by a factor of the live heap; capped near the live heap it has no room to, and marks
 *   and compacts the whole heap again and again (and a burst of promotions ends out of memory). The cap is a
 *   ceiling, not a reservation: V8 grows the old generation only as the heap needs.
 */
import type { GcSettings, LoadProfile } from './gc-kit.ts';

export type { GcSettings, LoadProfile } from './gc-kit.ts';

/** The young generation in heap limit per MB of semi-space: two semi-spaces and the new large-object space. */
const YOUNG_PER_SEMI = 3;

export function chooseSettings(load: LoadProfile): GcSettings {
  const semiSpaceMB = 16;
  const oldSpaceMB = Math.floor(load.budgetMB - YOUNG_PER_SEMI * semiSpaceMB);
  if (oldSpaceMB < 2 * load.liveHeapMB) {
    throw new RangeError(
      `a ${load.budgetMB} MB heap budget leaves ${oldSpaceMB} MB of old space next to a 16 MB semi-space, less than twice ` +
        `the live heap (${load.liveHeapMB.toFixed(0)} MB): this load needs a larger budget per worker, or fewer workers`,
    );
  }
  return { semiSpaceMB, oldSpaceMB };
}
