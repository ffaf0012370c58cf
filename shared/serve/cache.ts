/**
 * The service's caches.
 *
 * Results cache, two tiers:
 *   1. an in-process LRU (`lru-cache`) of serialized response bodies, so a hit is a map lookup and a socket write: no
 *      engine work, no JSON.stringify;
 *   2. optionally Redis (`REDIS_URL`), shared by every worker of a cluster (and by replicas on other machines).
 *
 * Freshness comes from versioned keys. Every key carries the index version, a counter bumped by every acknowledged
 * write (ingest or delete). A write is acknowledged only after the version it produced is in place, so a request that
 * arrives after the acknowledgement builds a key with the new version and can never read an answer computed before the
 * write. A query that began before the write stores its result under the old version, where nobody looks any more.
 * The Redis keys also carry a namespace (the index lineage: one per started cluster), so two servers restarted from the
 * same saved index, whose counters both start at 0, never read each other's entries.
 *
 * Embedding cache: `CachingEmbedder` wraps the engine's embedder and remembers single-text embeddings (query vectors).
 * Batches (ingest) pass through. Query vectors do not depend on the index, only on the embedder's fitted state, so
 * `fit`/`restore` clear it.
 *
 * Both in-process caches are bounded in bytes as well as in entries (lru-cache `maxSize` with a size per entry:
 * `entryBytes`), so unique long queries cannot grow a process without limit: the least recently used entries go
 * first once the byte cap is reached, and an entry larger than the whole cap is not stored.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import type { Metrics } from '../observe/metrics.ts';
import type { EmbedOptions, Embedder } from '../types.ts';

/** Heap bytes a cache entry is counted for besides its strings and arrays (string headers, the LRU's Map entry). */
export const ENTRY_OVERHEAD_BYTES = 96;

/** Default byte caps of the in-process caches (per process: each cluster worker has its own). */
export const DEFAULT_RESULTS_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_EMBEDDING_CACHE_BYTES = 16 * 1024 * 1024;

const WIDE = /[^\u0000-\u00ff]/;

/**
 * Bytes a string takes in V8's heap, its header aside: one per character when every character fits in Latin-1 (V8
 * stores it one byte wide), else two.
 */
export function stringBytes(s: string): number {
  return WIDE.test(s) ? 2 * s.length : s.length;
}

export interface ResultsCacheOptions {
  /** Most cached responses in the in-process tier. Default 20,000. */
  maxEntries?: number;
  /**
   * Most bytes in the in-process tier: keys and bodies as V8 stores them plus ENTRY_OVERHEAD_BYTES per entry.
   * Default 64 MiB (DEFAULT_RESULTS_CACHE_BYTES).
   */
  maxBytes?: number;
  /** A connected ioredis client for the shared tier, or undefined for memory only. Default undefined. */
  redis?: Redis;
  /** Redis key prefix identifying the index lineage. Default: a random id (entries shared by nobody else). */
  namespace?: string;
  /** Expiry of Redis entries, in seconds. Default 600. */
  redisTtlSeconds?: number;
  /** Give up on a Redis read after this many ms and treat it as a miss. Default 20. */
  redisTimeoutMs?: number;
  metrics?: Metrics;
}

export type CacheTier = 'memory' | 'redis';

export class ResultsCache {
  private readonly lru: LRUCache<string, string>;
  private readonly redis: Redis | undefined;
  private readonly namespace: string;
  private readonly ttl: number;
  private readonly redisTimeoutMs: number;
  private readonly metrics: Metrics | undefined;
  private _version = 0;
  /** The byte cap of the in-process tier. */
  readonly maxBytes: number;

  constructor(opts: ResultsCacheOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_RESULTS_CACHE_BYTES;
    if (!(Number.isInteger(this.maxBytes) && this.maxBytes > 0)) throw new RangeError(`ResultsCache: maxBytes must be a positive integer, got ${opts.maxBytes}`);
    this.lru = new LRUCache<string, string>({
      max: opts.maxEntries ?? 20_000,
      maxSize: this.maxBytes,
      sizeCalculation: (body, key) => stringBytes(body) + stringBytes(key) + ENTRY_OVERHEAD_BYTES,
    });
    this.redis = opts.redis;
    this.namespace = opts.namespace ?? Math.random().toString(36).slice(2, 10);
    this.ttl = opts.redisTtlSeconds ?? 600;
    this.redisTimeoutMs = opts.redisTimeoutMs ?? 20;
    this.metrics = opts.metrics;
  }

  /** The index version keys are built with. */
  get version(): number {
    return this._version;
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes the in-process tier holds, as counted against `maxBytes`. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /**
   * Moves to a new index version (never backwards). Entries of older versions can no longer be read: the in-process
   * tier is emptied at once (they would only take space), Redis lets them expire.
   */
  setVersion(version: number): void {
    if (version <= this._version) return;
    this._version = version;
    this.lru.clear();
  }

  /** The cache key of a query at the current version: normalised text, k, mode and filter. */
  key(query: string, k: number, mode: string, filter: unknown): string {
    const f = filter === undefined || filter === null ? '' : stableStringify(filter);
    return `${this._version}\u0001${mode}\u0001${k}\u0001${f}\u0001${normalizeQuery(query)}`;
  }

  /** In-process lookup. Counts a hit or a miss. */
  get(key: string): string | undefined {
    const body = this.lru.get(key);
    if (this.metrics) (body === undefined ? this.metrics.cacheMisses : this.metrics.cacheHits).inc({ cache: 'results', tier: 'memory' });
    return body;
  }

  /** Shared-tier lookup (undefined without Redis, on a miss, on an error or after `redisTimeoutMs`). */
  async getShared(key: string): Promise<string | undefined> {
    if (!this.redis || this.redis.status !== 'ready') return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const body = await Promise.race([
        this.redis.get(this.redisKey(key)),
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), this.redisTimeoutMs);
        }),
      ]);
      if (this.metrics) (body == null ? this.metrics.cacheMisses : this.metrics.cacheHits).inc({ cache: 'results', tier: 'redis' });
      if (body == null) return undefined;
      // the key still names the version it was built with: promote it locally only if that is still current
      if (key.startsWith(`${this._version}\u0001`)) this.lru.set(key, body);
      return body;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stores a serialized response under a key built by `key()` (in both tiers). */
  set(key: string, body: string): void {
    // a query that started before a write finished after it: its key names the old version, which is never read
    // again, so keep it out of the in-process tier altogether
    if (!key.startsWith(`${this._version}\u0001`)) return;
    this.lru.set(key, body);
    if (this.redis && this.redis.status === 'ready') {
      this.redis.set(this.redisKey(key), body, 'EX', this.ttl).catch(() => {});
    }
  }

  private redisKey(key: string): string {
    const sep = key.indexOf('\u0001');
    const version = key.slice(0, sep);
    const digest = createHash('sha1').update(key.slice(sep + 1)).digest('base64url');
    return `rag:results:${this.namespace}:${version}:${digest}`;
  }
}

/** Queries that differ only in case and white space retrieve the same results (the analyzer lower-cases). */
export function normalizeQuery(q: string): string {
  return q.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** JSON with object keys sorted, so { a, b } and { b, a } make the same key. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/**
 * The text an embedding cache keys on: Unicode NFKC, lower case, white space trimmed and collapsed to one space. Use it
 * only for a model whose tokenizer makes these texts identical anyway (an uncased tokenizer that applies NFKC and
 * splits on white space); a key may never merge two texts the model would embed differently. (T3 lesson 09.)
 */
export function normalizeEmbeddingText(text: string): string {
  return text.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

/**
 * The cache key of a text's vector: the model version that computed it, then the normalised text. After a model
 * swap (T3 lesson 11) the new version's keys are all different, so no vector of the old model is ever served for
 * the new one. The separator (U+0001) cannot occur in a version id made of printable characters.
 */
export function embeddingCacheKey(modelVersion: string, text: string): string {
  return `${modelVersion}\u0001${normalizeEmbeddingText(text)}`;
}

/** An embedder whose model can change under it (a hot-swap) and says which version computed each row. */
export interface VersionedEmbedder extends Embedder {
  /** The version new calls are served by. */
  readonly version: string;
  embedVersioned(texts: string[], opts?: EmbedOptions): Promise<{ row: Float32Array; version: string }[]>;
}

export interface EmbeddingCacheOptions {
  /** Most cached query vectors. Default 50,000. */
  maxEntries?: number;
  /**
   * Most bytes: the query texts as V8 stores them, the vectors, and ENTRY_OVERHEAD_BYTES + VECTOR_OVERHEAD_BYTES per
   * entry. Default 16 MiB (DEFAULT_EMBEDDING_CACHE_BYTES): about 25,000 short queries of a 100-d embedder.
   */
  maxBytes?: number;
  metrics?: Metrics;
  /**
   * Key on `normalizeEmbeddingText(text)` instead of the text as sent, so case, white-space and NFKC variants of one
   * query share an entry. Only for an embedder whose tokenizer makes those variants identical. Default false.
   */
  normalize?: boolean;
  /**
   * The version of the model behind `inner`, read on every call and put in every key (`embeddingCacheKey`), so a
   * vector computed by one model version is never returned once the version changes. It is read once per call, before
   * `inner` runs: `inner` must embed with that version for the whole call (with a swappable model, wrap the lease a
   * request holds, shared/model/model-slot.ts, not whatever model is current when the run starts). Default: none (one
   * model for the cache's life).
   */
  modelVersion?: () => string;
}

/** A Float32Array's own object and its ArrayBuffer, besides the floats. */
export const VECTOR_OVERHEAD_BYTES = 128;

/**
 * An Embedder that remembers the vectors of single texts (the query path embeds one text at a time). Same name and
 * dimension as the wrapped embedder, so a saved index accepts it.
 */
export class CachingEmbedder implements Embedder {
  readonly name: string;
  readonly dim: number;
  private readonly lru: LRUCache<string, Float32Array>;
  private readonly metrics: Metrics | undefined;
  /** The byte cap. */
  readonly maxBytes: number;

  constructor(
    readonly inner: Embedder,
    opts: EmbeddingCacheOptions = {},
  ) {
    this.name = inner.name;
    this.dim = inner.dim;
    this.maxBytes = opts.maxBytes ?? DEFAULT_EMBEDDING_CACHE_BYTES;
    if (!(Number.isInteger(this.maxBytes) && this.maxBytes > 0)) throw new RangeError(`CachingEmbedder: maxBytes must be a positive integer, got ${opts.maxBytes}`);
    this.lru = new LRUCache<string, Float32Array>({
      max: opts.maxEntries ?? 50_000,
      maxSize: this.maxBytes,
      sizeCalculation: (v, text) => stringBytes(text) + v.byteLength + ENTRY_OVERHEAD_BYTES + VECTOR_OVERHEAD_BYTES,
    });
    this.metrics = opts.metrics;
    this.normalize = opts.normalize ?? false;
    // an embedder that serves versions (shared/model/served-model.ts) keys the cache by them unless told otherwise
    const v = inner as Partial<VersionedEmbedder>;
    this.modelVersion = opts.modelVersion ?? (v.embedVersioned && typeof v.version === 'string' ? () => v.version! : undefined);
    if (inner.state) this.state = () => inner.state!();
  }

  private readonly normalize: boolean;
  private readonly modelVersion: (() => string) | undefined;

  /** The key of a text: as sent, or normalised (`normalize`), prefixed with the model version (`modelVersion`). */
  keyOf(text: string): string {
    return this.modelVersion ? this.keyAt(this.modelVersion(), text) : this.normalize ? normalizeEmbeddingText(text) : text;
  }

  private keyAt(version: string, text: string): string {
    return `${version}\u0001${this.normalize ? normalizeEmbeddingText(text) : text}`;
  }

  state?: () => unknown;

  /** Cached vectors. */
  get size(): number {
    return this.lru.size;
  }

  /** Bytes held, as counted against `maxBytes`. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  async embed(texts: string[], opts?: EmbedOptions): Promise<Float32Array[]> {
    if (texts.length !== 1) return this.inner.embed(texts, opts);
    // the version is read once, before the model runs: a vector is stored under the version that was asked for
    const key = this.keyOf(texts[0]);
    const hit = this.lru.get(key);
    this.metrics?.[hit ? 'cacheHits' : 'cacheMisses'].inc({ cache: 'embedding', tier: 'memory' });
    // callers get their own copy: one that scales or normalises its vector in place cannot change the cached one
    if (hit) return [hit.slice()];
    const versioned = this.inner as Partial<VersionedEmbedder>;
    if (versioned.embedVersioned) {
      // a swappable model says which version computed the row (a swap may land between the lookup and the run):
      // the row is stored under that version's key, never under the one asked for
      const [r] = await versioned.embedVersioned(texts, opts);
      const copy = r.row.slice();
      this.lru.set(this.keyAt(r.version, texts[0]), copy);
      return [copy.slice()];
    }
    const [v] = await this.inner.embed(texts, opts);
    // rows may be views of a shared buffer: keep a compact copy
    const copy = v.slice();
    this.lru.set(key, copy);
    return [copy.slice()];
  }

  async fit(texts: string[]): Promise<void> {
    await this.inner.fit?.(texts);
    this.lru.clear();
  }

  restore(state: unknown): void {
    this.inner.restore?.(state);
    this.lru.clear();
  }
}
