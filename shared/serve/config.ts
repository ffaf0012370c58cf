/**
 * What `npm run serve` passes to a serving process (single, cluster primary or worker), and the parts every
 * serving process builds from it: the saved engine behind a caching embedder, and the optional Redis cache tier.
 */
import type pino from 'pino';
import { Redis } from 'ioredis';
import { loadEngine, type EngineConfig } from '../engine.ts';
import { createEmbedder, type EmbedderChoice } from '../model/serving.ts';
import type { ServerOptions } from './app.ts';
import { CachingEmbedder } from './cache.ts';
import type { SnapshotPolicy } from './store/snapshots.ts';
import type { FsyncMode } from './store/wal.ts';

/** Where acknowledged writes live (store/): the write-ahead log and snapshots. */
export interface DurabilityConfig {
  /** The data directory (WAL + snapshots). Default `<index>.data`, beside the index. */
  dataDir: string;
  /** 'group' (default: fsync before the 200, writes arriving meanwhile share it), 'every' (one fsync per write), 'off'. */
  fsync: FsyncMode;
  snapshot: SnapshotPolicy;
}

export interface ServeConfig {
  indexDir: string;
  port: number;
  host: string;
  /** Worker processes; 1 = no cluster (the server runs in this process). */
  workers: number;
  redisUrl?: string;
  /** The write-ahead log and snapshots; undefined = writes live in memory only (lost at exit). */
  durability?: DurabilityConfig;
  /** Cluster: a worker that dies before it serves is re-forked after 0.5, 1, 2, 4 … s (capped at 8 s); after this many failures in a row the service exits 1. */
  maxStartFailures?: number;
  /** Cluster: extra workers kept loaded and current, that take a dead worker's place at once. Default 0. */
  spareWorkers?: number;
  /** Cluster: nice value of the workers a hot update starts, while they load (0 = as the others). Default 10. */
  reloadNice?: number;
  /**
   * Engine settings over the saved index's (candidate depth, HNSW beam of hybrid queries, ingest slices), and the
   * byte cap of the caching embedder in front of it.
   */
  engine?: Partial<Pick<EngineConfig, 'candidates' | 'hybridEf' | 'ingestSliceMs' | 'ingestShare'>> & {
    embeddingCacheBytes?: number;
    /** The embedder the index was built with (default: the SIF embedder). */
    embedder?: EmbedderChoice;
  };
  server: Omit<ServerOptions, 'engine' | 'writes' | 'metrics' | 'metricsText' | 'logger' | 'version'>;
  logger: pino.Logger;
}

/** Loads the saved engine with the caching embedder in front of the chosen one (default: SIF). */
export async function loadServingEngine(dir: string, settings: ServeConfig['engine'] = {}) {
  const { embeddingCacheBytes, embedder: choice, ...overrides } = settings;
  const embedder = new CachingEmbedder(await createEmbedder(choice ?? { kind: 'sif' }, { serve: true }), { maxBytes: embeddingCacheBytes });
  return loadEngine(dir, { ...overrides, embedder });
}

/** The shared Redis tier of the results cache (keys under `namespace`), or undefined without a Redis URL. */
export function redisCache(url: string | undefined, namespace: string, logger: pino.Logger) {
  if (!url) return undefined;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis cache unavailable; serving from memory only'));
  return { redis, namespace };
}
