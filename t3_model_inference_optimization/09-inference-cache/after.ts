/**
 * 09-inference-cache, after: an embedding cache keyed by the model version and the normalised text, an in-process LRU
 * capped in bytes, and Redis as the tier every worker shares, read and written one round trip per batch.
 *
 * 1. **The key**: `embeddingCacheKey(model.version, text)` (shared/serve/cache.ts) = the version id of the model
 *    that computes the vector, then the text as its tokenizer sees it (NFKC, lower case, white space collapsed).
 *    "Hello  World", "hello world" and "ＨＥＬＬＯ world" are one entry, because the tokenizer gives them the same ids
 *    and so the model gives them the same vector; a query log full of such variants hits where a raw-text key misses.
 *    The version makes a model swap (lesson 11) safe: the new model's keys are all new, so a vector the old model
 *    computed is never served for it, and nothing needs to be flushed at the moment of the swap.
 * 2. **The bound**: an LRU (`lru-cache`) whose size is counted in bytes (the key as V8 stores it, the vector, and the
 *    objects around them), so a stream of unique long queries evicts the least recently used entries instead of
 *    growing the process. A Zipf log's head (the few queries asked most) stays; its tail would miss anyway.
 * 3. **Copies**: the cache stores a compact copy of a row (a model's rows are often views of one output buffer) and
 *    hands every caller a copy of its own. A Float32Array is mutable; a caller that normalises or scales its query
 *    vector in place would otherwise change the vector every later hit returns.
 * 4. **Redis, the shared tier**: misses of the in-process tier for a whole batch are read with one MGET, the vectors
 *    the model then computes are written back in one pipeline (SET … EX), so a batch of 32 texts costs two round
 *    trips, not 32 or 64; every worker (and replica) reads what any other computed. Vectors go to Redis as their raw
 *    float32 bytes (4 bytes a dimension; no JSON). A Redis that is down or slow is a miss, never an error.
 *
 * Texts the model has not seen in this batch are embedded in one call (duplicates once): the cache never makes the
 * model run more often than without it.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { DEFAULT_EMBEDDING_CACHE_BYTES, ENTRY_OVERHEAD_BYTES, VECTOR_OVERHEAD_BYTES, embeddingCacheKey, stringBytes } from '../../shared/serve/cache.ts';

/** A model as the cache sees it: a version id (new weights, new id) and batch-first embedding. */
export interface Model {
  /** Identifies the weights: two models with the same version must give the same vector for the same text. */
  readonly version: string;
  embed(texts: string[]): Promise<Float32Array[]>;
}

export interface EmbedCacheOptions {
  /** Most bytes of the in-process tier (keys + vectors + per-entry overhead). Default 16 MiB. */
  maxBytes?: number;
  /** A connected ioredis client for the shared tier, or undefined for memory only. Default undefined. */
  redis?: Redis;
  /** Prefix of the Redis keys (one per deployment / test run). Default 'emb'. */
  namespace?: string;
  /** Expiry of Redis entries, in seconds. Default 3600. */
  ttlSeconds?: number;
}

export interface EmbedCacheStats {
  /** Texts answered from the in-process tier. */
  memoryHits: number;
  /** Texts answered from Redis. */
  redisHits: number;
  /** Texts the model embedded. */
  misses: number;
  /** Model calls (one per batch that had misses). */
  modelCalls: number;
  /** Requests sent to Redis (an MGET or a pipeline counts one). */
  redisRoundTrips: number;
}

/** What a lesson's cache exposes; before.ts (no cache) has the same shape. */
export interface EmbedCacheLike {
  /** One row per text, computed by `model` (or remembered from it), each a Float32Array the caller owns. */
  embed(model: Model, texts: string[]): Promise<Float32Array[]>;
  /** Bytes the in-process tier holds, counted as against `maxBytes`. */
  readonly bytes: number;
  /** Entries in the in-process tier. */
  readonly entries: number;
  readonly stats: EmbedCacheStats;
}

/** The in-process tier: get/set by key, its size in entries and bytes. */
export interface VectorStore {
  get(key: string): Float32Array | undefined;
  set(key: string, v: Float32Array): void;
  readonly size: number;
  readonly bytes: number;
}

/** Bytes one entry is counted for: its key as V8 stores it, the floats, and the objects around them. */
export function entryBytes(key: string, v: Float32Array): number {
  return stringBytes(key) + v.byteLength + ENTRY_OVERHEAD_BYTES + VECTOR_OVERHEAD_BYTES;
}

export class EmbedCache implements EmbedCacheLike {
  readonly stats: EmbedCacheStats = { memoryHits: 0, redisHits: 0, misses: 0, modelCalls: 0, redisRoundTrips: 0 };
  readonly maxBytes: number;
  // every member public: a subclass (the wrong/ solutions) or a rewrite (exercise.ts) keeps the same shape
  readonly store: VectorStore;
  readonly redis: Redis | undefined;
  readonly namespace: string;
  readonly ttl: number;

  constructor(opts: EmbedCacheOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_EMBEDDING_CACHE_BYTES;
    if (!(Number.isInteger(this.maxBytes) && this.maxBytes > 0)) throw new RangeError(`EmbedCache: maxBytes must be a positive integer, got ${opts.maxBytes}`);
    this.store = this.newStore(this.maxBytes);
    this.redis = opts.redis;
    this.namespace = opts.namespace ?? 'emb';
    this.ttl = opts.ttlSeconds ?? 3600;
  }

  get bytes(): number {
    return this.store.bytes;
  }

  get entries(): number {
    return this.store.size;
  }

  /** The key of a text's vector: the model version, then the text as the tokenizer sees it. */
  keyOf(version: string, text: string): string {
    return embeddingCacheKey(version, text);
  }

  /** The in-process tier: an LRU that evicts by bytes (an entry larger than the whole cap is not stored). */
  newStore(maxBytes: number): VectorStore {
    const lru = new LRUCache<string, Float32Array>({ maxSize: maxBytes, sizeCalculation: (v, key) => entryBytes(key, v) });
    return {
      get: (k) => lru.get(k),
      set: (k, v) => void lru.set(k, v),
      get size() {
        return lru.size;
      },
      get bytes() {
        return lru.calculatedSize;
      },
    };
  }

  /** What a caller receives for a stored vector: its own copy. */
  handOut(stored: Float32Array): Float32Array {
    return stored.slice();
  }

  /** One round trip for a batch's keys: MGET, raw bytes back (null where Redis has none). */
  async fetchShared(redis: Redis, keys: string[]): Promise<Array<Buffer | null>> {
    this.stats.redisRoundTrips++;
    return redis.mgetBuffer(keys);
  }

  /** One round trip to write a batch's new vectors: a pipeline of SET … EX. */
  async storeShared(redis: Redis, entries: Array<[string, Buffer]>): Promise<void> {
    this.stats.redisRoundTrips++;
    const p = redis.pipeline();
    for (const [k, b] of entries) p.set(k, b, 'EX', this.ttl);
    await p.exec();
  }

  redisKey(key: string): string {
    const sep = key.indexOf('\u0001');
    const digest = createHash('sha1').update(key).digest('base64url');
    return `${this.namespace}:${sep > 0 ? key.slice(0, sep) : '-'}:${digest}`;
  }

  sharedTier(): Redis | undefined {
    return this.redis && this.redis.status === 'ready' ? this.redis : undefined;
  }

  async embed(model: Model, texts: string[]): Promise<Float32Array[]> {
    const version = model.version; // read once: every key of this call names the model that computes its misses
    const keys = texts.map((t) => this.keyOf(version, t));
    const found: Array<Float32Array | undefined> = keys.map((k) => this.store.get(k));
    let missing = found.flatMap((v, i) => (v ? [] : [i]));
    this.stats.memoryHits += texts.length - missing.length;

    const redis = this.sharedTier();
    if (redis && missing.length) {
      try {
        const bufs = await this.fetchShared(redis, missing.map((i) => this.redisKey(keys[i])));
        missing = missing.filter((i, j) => {
          const b = bufs[j];
          if (!b || b.byteLength % 4 !== 0) return true;
          // copy out of the socket buffer (and onto a 4-byte boundary)
          const v = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
          this.store.set(keys[i], v);
          found[i] = v;
          this.stats.redisHits++;
          return false;
        });
      } catch {
        // Redis down or failing: the in-process tier and the model still answer
      }
    }

    if (missing.length) {
      // one model call for the batch's misses; two spellings of one text in the batch are embedded once
      const first = new Map<string, number>();
      for (const i of missing) if (!first.has(keys[i])) first.set(keys[i], i);
      const unique = [...first.values()];
      const rows = await model.embed(unique.map((i) => texts[i]));
      this.stats.modelCalls++;
      this.stats.misses += unique.length;
      const fresh: Array<[string, Buffer]> = [];
      unique.forEach((i, j) => {
        const v = rows[j].slice(); // compact: the model's rows may be views of one output buffer
        this.store.set(keys[i], v);
        found[i] = v;
        fresh.push([this.redisKey(keys[i]), Buffer.from(v.buffer, v.byteOffset, v.byteLength)]);
      });
      for (const i of missing) found[i] ??= found[first.get(keys[i])!];
      if (redis) await this.storeShared(redis, fresh).catch(() => {});
    }
    return found.map((v) => this.handOut(v!));
  }
}

export function createEmbedCache(opts: EmbedCacheOptions = {}): EmbedCacheLike {
  return new EmbedCache(opts);
}
