/**
 * Wrong (on purpose): the Redis tier asks for one key at a time, as a loop over `redis.get` reads naturally. A batch
 * of 32 texts then waits for 32 round trips (and 32 more to write the misses back) where one MGET and one pipeline
 * do the same work; on a network, each round trip is the latency of the link.
 *
 * What differs from after.ts: `fetchShared` sends one GET per key and `storeShared` one SET per entry, each awaited.
 *
 * @rejected-with Redis round trips for one batch
 */
import type { Redis } from 'ioredis';
import { EmbedCache, type EmbedCacheLike, type EmbedCacheOptions } from '../after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model, VectorStore } from '../after.ts';
export { EmbedCache, entryBytes } from '../after.ts';

class GetPerTextCache extends EmbedCache {
  override async fetchShared(redis: Redis, keys: string[]): Promise<Array<Buffer | null>> {
    const out: Array<Buffer | null> = [];
    for (const k of keys) {
      this.stats.redisRoundTrips++;
      out.push(await redis.getBuffer(k));
    }
    return out;
  }

  override async storeShared(redis: Redis, entries: Array<[string, Buffer]>): Promise<void> {
    for (const [k, b] of entries) {
      this.stats.redisRoundTrips++;
      await redis.set(k, b, 'EX', 3600);
    }
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new GetPerTextCache(opts);
}
