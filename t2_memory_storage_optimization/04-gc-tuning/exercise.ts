/**
 * EXERCISE 04-gc-tuning — choose the GC settings of the engine's query workers for the load they serve.
 *
 * `chooseSettings` gets the load as measured by a worker with Node's defaults (its live heap, the bytes one query
 * allocates, queries per second) and the worker's heap budget, and returns the semi-space and old-space sizes the
 * workers are started with (`--max-semi-space-size`, `--max-old-space-size`). As shipped it returns the "small
 * memory" settings of before.ts whatever the load: the worker stays small and spends a large share of its time in
 * the GC. Measure first, then decide:
 *
 *   npm run t2 -- --only 04-gc-tuning --impl exercise --quick   # GC share and p99 of yours beside before and after
 *   npm run t2 -- --only 04-gc-tuning                           # full: the semi-space sweep, the old-space sweep
 *   npx tsx t2_memory_storage_optimization/04-gc-tuning/trace.ts --semi 1 --old 96   # one worker's --trace-gc
 *
 * What the checkpoint (`npm run checkpoint -- 04-gc-tuning`) measures, running a worker with your settings:
 *   - V8's heap limit under your flags is within the budget;
 *   - the old space is at least twice the live heap;
 *   - over 2,000 queries, the young generation takes at least 6 MB of allocation per scavenge;
 *   - and the answers are those of Node's defaults (GC settings never change results).
 *
 * Stuck? npm run hint -- 04-gc-tuning
 */
import type { GcSettings, LoadProfile } from './gc-kit.ts';

export type { GcSettings, LoadProfile } from './gc-kit.ts';

export function chooseSettings(_load: LoadProfile): GcSettings {
  return { semiSpaceMB: 1, oldSpaceMB: 96 };
}
