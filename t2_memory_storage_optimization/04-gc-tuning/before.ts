/**
 * The query workers' GC settings as they are often first set: "make Node use less memory". A guide for small
 * containers says to shrink the young generation to 1 MB and cap the old space low, and it works, in that the
 * process stays small, whatever the load. But the engine's queries allocate tens of KB each, nearly all of it dead
 * by the end of the query: with 1 MB semi-spaces a scavenge comes every few dozen queries, each stopping the thread
 * to copy whatever is still in flight, and the GC takes a large share of the time (the benchmark measures it).
 */
import type { GcSettings, LoadProfile } from './gc-kit.ts';

export type { GcSettings, LoadProfile } from './gc-kit.ts';

export function chooseSettings(_load: LoadProfile): GcSettings {
  return { semiSpaceMB: 1, oldSpaceMB: 96 };
}
