/**
 * Wrong (on purpose): tiers like after.ts's, but the memory tier is bounded by a number of entries, worked out from
 * the budget as if every chunk were 1 KiB. Chunks are not all 1 KiB: the ones held are often longer, and the bytes
 * held drift over the cap while the entry count looks fine.
 *
 * What differs from after.ts: the memory tier (`hot`), a least-recently-used Map that evicts by entry count
 * (budget / 1 KiB entries) instead of by bytes; it counts the bytes it holds honestly. The warm ring file, the cold
 * file and the store around them are after.ts's (`TieredTextStore`).
 *
 * @rejected-with over the cap of
 */
import { join } from 'node:path';
import { TieredTextStore, type MemoryTier } from '../../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions } from '../after.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from '../after.ts';

/** An LRU of at most `maxEntries` texts (Map insertion order = recency), whatever their length. */
class EntryCountLru implements MemoryTier {
  private readonly texts = new Map<number, { text: string; cost: number }>();
  bytes = 0;
  peakBytes = 0;

  constructor(private readonly maxEntries: number) {}

  get(i: number): string | undefined {
    const e = this.texts.get(i);
    if (e === undefined) return undefined;
    this.texts.delete(i);
    this.texts.set(i, e);
    return e.text;
  }

  set(i: number, text: string, cost: number): void {
    const old = this.texts.get(i);
    if (old) {
      this.texts.delete(i);
      this.bytes -= old.cost;
    }
    if (this.texts.size >= this.maxEntries) {
      const [oldest, e] = this.texts.entries().next().value as [number, { cost: number }];
      this.texts.delete(oldest);
      this.bytes -= e.cost;
    }
    this.texts.set(i, { text, cost });
    this.bytes += cost;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }
}

export function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, {
    memoryBytes: opts.memoryBytes,
    hot: new EntryCountLru(Math.floor(opts.memoryBytes / 1024)), // the mistake: "a chunk is about 1 KiB"
    warm: { file: join(opts.dir, 'warm.ring'), bytes: opts.diskBytes },
  });
}
