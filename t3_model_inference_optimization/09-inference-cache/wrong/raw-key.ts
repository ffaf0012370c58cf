/**
 * Wrong (on purpose): the key is the text as sent (with the model version). "Hello World", "hello  world" and
 * " HELLO WORLD" are three entries and three model runs, although the tokenizer turns them into the same ids and the
 * model into the same vector: on a log where users type the same query in different ways, the hit rate drops.
 *
 * What differs from after.ts: `keyOf` does not normalise the text.
 *
 * @rejected-with missed the cache
 */
import { EmbedCache, type EmbedCacheLike, type EmbedCacheOptions } from '../after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model, VectorStore } from '../after.ts';
export { EmbedCache, entryBytes } from '../after.ts';

class RawKeyCache extends EmbedCache {
  override keyOf(version: string, text: string): string {
    return `${version}\u0001${text}`;
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new RawKeyCache(opts);
}
