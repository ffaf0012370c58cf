/**
 * 10-tiered-storage, after: three tiers, each read served by the first that holds the text.
 *
 * - hot: decoded texts in memory, least recently used evicted first, bounded by `memoryBytes` (the store counts every
 *   text's cost and evicts before it inserts, so it is never over, not even for a moment);
 * - warm: a file of at most `diskBytes` on local disk, written as texts come from cold and overwritten oldest first,
 *   read by offset (one positioned read of exactly the text's bytes, into a pooled buffer);
 * - cold: the compressed block file, read only when neither holds the text.
 *
 * A warm hit is promoted to hot; a cold read fills both. The engine's store (`TieredTextStore`,
 * shared/store/tiered.ts) is this design; the lesson opens it with the limits it is given.
 */
import { join } from 'node:path';
import { TieredTextStore } from '../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions } from './types.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from './types.ts';

export async function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, { memoryBytes: opts.memoryBytes, warm: { file: join(opts.dir, 'warm.ring'), bytes: opts.diskBytes } });
}
