/**
 * The stores between before and after, so the benchmark shows what each tier buys:
 *
 * - `openAllInMemory`: every text read into memory when the store opens (the first thing people write; it ignores
 *   the memory budget, so its speed does not count);
 * - `openHotOnly`: the hot tier alone in front of the cold file (no warm tier on local disk).
 */
import { RagError } from '../../shared/errors.ts';
import { textCost } from '../../shared/store/lru.ts';
import { TieredTextStore } from '../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions, TierStats } from './types.ts';

export async function openAllInMemory(cold: ColdStore, _opts: TierOptions): Promise<ChunkStore> {
  const texts: string[] = new Array(cold.size);
  for (let i = 0; i < cold.size; i++) texts[i] = await cold.read(i);
  return allInMemory(texts);
}

/** `openAllInMemory` over texts already read (the benchmark's shortcut: reading them from cold is not the point). */
export function allInMemory(texts: string[]): ChunkStore {
  let bytes = 0;
  for (const t of texts) bytes += textCost(t);
  let hits = 0;
  return {
    async get(i: number): Promise<string> {
      if (!Number.isInteger(i) || i < 0 || i >= texts.length) throw new RagError('INVALID_INPUT', `get: no text ${i} (size ${texts.length})`);
      hits++;
      return texts[i];
    },
    stats: (): TierStats => ({ hot: hits, warm: 0, cold: 0, memoryBytes: bytes, peakMemoryBytes: bytes, diskBytes: 0 }),
    close: async () => {},
  };
}

export async function openHotOnly(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, { memoryBytes: opts.memoryBytes });
}
