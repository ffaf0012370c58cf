/**
 * Wrong (on purpose): all three tiers, and the memory tier kept under the cap the simplest way: when the next text
 * would not fit, empty it and start again. The cap holds, but every reset throws the popular chunks out with the rest,
 * and they come back from disk one by one.
 *
 * What differs from after.ts: the memory tier (`hot`), a Map emptied when full instead of the byte-bounded LRU; the
 * warm ring file, the cold file and the store around them are after.ts's (`TieredTextStore`).
 *
 * @rejected-with answered from memory (hot tier), floor
 */
import { join } from 'node:path';
import { TieredTextStore, type MemoryTier } from '../../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions } from '../after.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from '../after.ts';

/** Texts in a Map until the next one would pass the cap; then all of them are dropped. */
class ClearWhenFull implements MemoryTier {
  private readonly texts = new Map<number, { text: string; cost: number }>();
  bytes = 0;
  peakBytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(i: number): string | undefined {
    return this.texts.get(i)?.text;
  }

  set(i: number, text: string, cost: number): void {
    const old = this.texts.get(i);
    if (old) {
      this.texts.delete(i);
      this.bytes -= old.cost;
    }
    if (cost > this.maxBytes) return;
    if (this.bytes + cost > this.maxBytes) {
      this.texts.clear(); // the mistake: everything goes, the popular chunks with the rest
      this.bytes = 0;
    }
    this.texts.set(i, { text, cost });
    this.bytes += cost;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }
}

export function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, {
    memoryBytes: opts.memoryBytes,
    hot: new ClearWhenFull(opts.memoryBytes),
    warm: { file: join(opts.dir, 'warm.ring'), bytes: opts.diskBytes },
  });
}
