/**
 * 09-inference-cache, before: no cache. Every query runs the model, however often it was asked before.
 *
 * The query path embeds one text per request. On a real query log the same few queries come back again and again
 * (search logs follow a Zipf law: the most asked query is asked about twice as often as the second, three times as
 * often as the third…), often spelled differently ("Hello World", "hello  world"), and each costs a full model run.
 * That is the baseline: encoder calls = queries, bytes held = 0.
 */
import type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model } from './after.ts';

export type { EmbedCacheLike, EmbedCacheOptions, EmbedCacheStats, Model } from './after.ts';

/** Passes every text to the model. */
export function createEmbedCache(_opts: EmbedCacheOptions = {}): EmbedCacheLike {
  const stats: EmbedCacheStats = { memoryHits: 0, redisHits: 0, misses: 0, modelCalls: 0, redisRoundTrips: 0 };
  return {
    stats,
    bytes: 0,
    entries: 0,
    async embed(model: Model, texts: string[]) {
      stats.modelCalls++;
      stats.misses += texts.length;
      return model.embed(texts);
    },
  };
}
