/**
 * Wrong (on purpose): a plain Map as the in-process tier. Every distinct query ever asked stays in memory: its hit
 * rate is the best possible, and its size is the whole query log's tail, growing for as long as the process lives
 * (the long unique queries a bot sends most of all). The byte count is honest; it is just never bounded.
 *
 * What differs from after.ts: `newStore` returns a Map that never evicts.
 *
 * @rejected-with bytes held
 */
import { EmbedCache, entryBytes, type EmbedCacheLike, type EmbedCacheOptions, type VectorStore } from '../after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model, VectorStore } from '../after.ts';
export { EmbedCache, entryBytes } from '../after.ts';

class MapCache extends EmbedCache {
  override newStore(): VectorStore {
    const map = new Map<string, Float32Array>();
    let bytes = 0;
    return {
      get: (k) => map.get(k),
      set: (k, v) => {
        const old = map.get(k);
        if (old) bytes -= entryBytes(k, old);
        map.set(k, v);
        bytes += entryBytes(k, v);
      },
      get size() {
        return map.size;
      },
      get bytes() {
        return bytes;
      },
    };
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new MapCache(opts);
}
