/**
 * What `npm run serve` passes to a serving process (single, cluster primary or worker), and the parts every
 * serving process builds from it: the saved engine behind a caching embedder, and the optional Redis cache tier.
 */
import type pino from 'pino';
import { Redis } from 'ioredis';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { loadEngine, type EngineConfig } from '../engine.ts';
import type { ServerOptions } from './app.ts';
import { CachingEmbedder } from './cache.ts';

export interface ServeConfig {
  indexDir: string;
  port: number;
  host: string;
  /** Worker processes; 1 = no cluster (the server runs in this process). */
  workers: number;
  redisUrl?: string;
  /** Query-time engine settings over the saved index's (candidate depth, HNSW beam of hybrid queries). */
  engine?: Partial<Pick<EngineConfig, 'candidates' | 'hybridEf'>>;
  server: Omit<ServerOptions, 'engine' | 'writes' | 'metrics' | 'metricsText' | 'logger' | 'version'>;
  logger: pino.Logger;
}

/** Loads the saved engine with the caching embedder in front of the default one. */
export async function loadServingEngine(dir: string, overrides: ServeConfig['engine'] = {}) {
  const embedder = new CachingEmbedder(await createDefaultEmbedder());
  return loadEngine(dir, { ...overrides, embedder });
}

/** The shared Redis tier of the results cache (keys under `namespace`), or undefined without a Redis URL. */
export function redisCache(url: string | undefined, namespace: string, logger: pino.Logger) {
  if (!url) return undefined;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis cache unavailable; serving from memory only'));
  return { redis, namespace };
}
