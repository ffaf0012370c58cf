/**
 * Wrong (on purpose): the cache hands out the Float32Array it stores. It saves a 1.5 KB copy per hit, and it works
 * until one caller changes its vector in place (normalises it, scales it for a weighted hybrid score, reuses it as a
 * buffer): from then on every hit of that query returns the changed vector.
 *
 * What differs from after.ts: `handOut` returns the stored array itself.
 *
 * @rejected-with in-place change
 */
import { EmbedCache, type EmbedCacheLike, type EmbedCacheOptions } from '../after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model, VectorStore } from '../after.ts';
export { EmbedCache, entryBytes } from '../after.ts';

class ByReferenceCache extends EmbedCache {
  override handOut(stored: Float32Array): Float32Array {
    return stored;
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new ByReferenceCache(opts);
}
