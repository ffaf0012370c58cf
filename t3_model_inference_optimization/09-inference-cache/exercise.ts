/**
 * EXERCISE 09-inference-cache — cache query embeddings so a query log costs the model as few runs as it can, and
 * never an answer the model would not give.
 *
 * As shipped it is a cache keyed by the text as sent, in a Map that never evicts, handing out the array it stores,
 * and reading Redis one key at a time: it answers correctly until a caller changes its vector or the model changes,
 * and the checkpoint rejects it. The plumbing (batches, one model call for a batch's misses, Redis keys, raw float32
 * bytes in Redis) is done; the four methods marked TODO are the decisions.
 *
 * What must hold (checked by `npm run checkpoint -- 09-inference-cache`, on a seeded encoder whose tokenizer
 * applies NFKC, lower-cases and splits on white space, and a Zipf query log of 3,000 queries over 600 distinct):
 *   - every answer equals the model's vector for the text as sent (a key may merge only texts the tokenizer makes
 *     identical anyway);
 *   - over the log, the model embeds each distinct query once (case, white-space and NFKC variants included);
 *   - after the model changes (another `model.version`), no vector the old model computed is returned;
 *   - the in-process tier never holds more than `maxBytes` (count keys and vectors with `entryBytes`);
 *   - a caller that changes its vector in place does not change what the next hit returns;
 *   - with Redis: a second cache on the same Redis gets the first one's vectors without running the model, and one
 *     batch costs at most two round trips.
 *
 * Then measure encoder calls, hit rate, time per query and bytes held beside before and after:
 *   npm run t3 -- --only 09-inference-cache --impl exercise --quick
 * Stuck? npm run hint -- 09-inference-cache
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache'; // yours to use
import type { Redis } from 'ioredis';
import { DEFAULT_EMBEDDING_CACHE_BYTES, ENTRY_OVERHEAD_BYTES, VECTOR_OVERHEAD_BYTES, stringBytes } from '../../shared/serve/cache.ts';

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

  /** TODO: the key of a text's vector. Which texts may share an entry, and what else must the key name? */
  keyOf(_version: string, text: string): string {
    return text;
  }

  /** TODO: the in-process tier. It must never hold more than `maxBytes` (as `entryBytes` counts them). */
  newStore(_maxBytes: number): VectorStore {
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

  /** TODO: what a caller receives for a stored vector. Float32Arrays are mutable. */
  handOut(stored: Float32Array): Float32Array {
    return stored;
  }

  /** TODO: read a batch's keys from Redis (raw bytes, null where Redis has none). Count each request you send. */
  async fetchShared(redis: Redis, keys: string[]): Promise<Array<Buffer | null>> {
    const out: Array<Buffer | null> = [];
    for (const k of keys) {
      this.stats.redisRoundTrips++;
      out.push(await redis.getBuffer(k));
    }
    return out;
  }

  /** TODO: write a batch's new vectors to Redis with expiry `this.ttl`. Count each request you send. */
  async storeShared(redis: Redis, entries: Array<[string, Buffer]>): Promise<void> {
    for (const [k, b] of entries) {
      this.stats.redisRoundTrips++;
      await redis.set(k, b, 'EX', this.ttl);
    }
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
