/**
 * Wrong (on purpose): the first cache everyone writes: remember every text once it has been read. It counts what it
 * holds honestly, and it only ever grows: under a Zipf load most of the corpus is read at least once, so memory ends
 * up near the size of the corpus.
 *
 * What differs from after.ts: the memory tier (`hot`), a Map that keeps every text it is given instead of the
 * byte-bounded LRU. The warm ring file, the cold file and the store around them are after.ts's (`TieredTextStore`).
 *
 * @rejected-with over the cap of
 */
import { join } from 'node:path';
import { TieredTextStore, type MemoryTier } from '../../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions } from '../after.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from '../after.ts';

/** Every text ever read, never evicted. */
class KeepEverything implements MemoryTier {
  private readonly texts = new Map<number, string>();
  bytes = 0;
  peakBytes = 0;

  get(i: number): string | undefined {
    return this.texts.get(i);
  }

  set(i: number, text: string, cost: number): void {
    if (!this.texts.has(i)) {
      this.bytes += cost;
      this.peakBytes = Math.max(this.peakBytes, this.bytes);
    }
    this.texts.set(i, text);
  }
}

export function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, {
    memoryBytes: opts.memoryBytes,
    hot: new KeepEverything(), // the mistake: no bound at all
    warm: { file: join(opts.dir, 'warm.ring'), bytes: opts.diskBytes },
  });
}
