/**
 * Wrong (on purpose): the half-solution: a bounded LRU in memory in front of the cold file, and no tier on local disk.
 * Memory holds the head of the distribution; everything just below it (evicted, then asked for again) costs a block
 * read and a decompression each time.
 *
 * What differs from after.ts: no warm tier (variants.ts's `openHotOnly`: `TieredTextStore` without `warm`); the
 * memory tier and the cold file are after.ts's.
 *
 * @rejected-with went to the cold file
 */
import { openHotOnly } from '../variants.ts';
import type { ChunkStore, ColdStore, TierOptions } from '../after.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from '../after.ts';

export function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return openHotOnly(cold, opts);
}
