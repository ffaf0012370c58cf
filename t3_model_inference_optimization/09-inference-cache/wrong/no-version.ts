/**
 * Wrong (on purpose): the key is the normalised text alone. It works until the model changes (a new checkpoint, the
 * int8 model of lesson 01, a hot swap as in lesson 11): then every cached query gets the old model's vector, which
 * lives in another vector space than the documents the new model indexed, and nothing reports an error.
 *
 * What differs from after.ts: `keyOf` leaves the model version out.
 *
 * @rejected-with computed by the old model
 */
import { normalizeEmbeddingText } from '../../../shared/serve/cache.ts';
import { EmbedCache, type EmbedCacheLike, type EmbedCacheOptions } from '../after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model, VectorStore } from '../after.ts';
export { EmbedCache, entryBytes } from '../after.ts';

class NoVersionCache extends EmbedCache {
  override keyOf(_version: string, text: string): string {
    return normalizeEmbeddingText(text);
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new NoVersionCache(opts);
}
