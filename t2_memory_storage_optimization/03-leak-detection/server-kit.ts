/**
 * What every server of the lesson shares, so before.ts, after.ts and yours differ only in what they keep between
 * requests: the routes' parameters and bodies, the shapes they report, and listening on 127.0.0.1.
 *
 * Routes (fastify):
 *   GET  /search?q=<query>&k=<1..50>   → 200 {"hits":[...],"answer":"..."} from the engine (or a cache of it);
 *                                         header x-cache: hit | miss
 *   GET  /stats                        → 200 ServerStats: requests served, p99 latency, the last queries, and what the
 *                                         server holds (cache entries and bytes, op-log entries)
 *   POST /documents {"documents":[...]} → ingests into the engine, then emits 'update' on `events`
 *   GET  /healthz                      → 200 {"ok":true}
 *   400 {"error":"..."} for a bad parameter.
 */
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import type { QueryResult } from '../../shared/engine.ts';
import { ENTRY_OVERHEAD_BYTES, normalizeQuery, stringBytes } from '../../shared/serve/cache.ts';
import type { Doc } from '../../shared/types.ts';

export const JSON_TYPE = 'application/json; charset=utf-8';
/** How many of the latest queries /stats lists. */
export const RECENT = 10;

export interface ServerOptions {
  /** Most bytes the results cache may hold (keys and bodies as V8 stores them, plus a per-entry overhead). Default 8 MiB. */
  cacheBytes?: number;
  /** Most operations the op log keeps for /stats (its p99 is over those). Default 1,024. */
  opLogSize?: number;
}

export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_OP_LOG_SIZE = 1024;

export interface ServerStats {
  /** /search requests answered since the server started. */
  requests: number;
  /** p99 latency of the /search requests the op log holds, in ms (0 before the first). */
  p99Ms: number;
  /** The last RECENT queries, oldest first. */
  recent: string[];
  /** Entries in the results cache, and their bytes counted like `entryBytes`. */
  cacheEntries: number;
  cacheBytes: number;
  /** Operations the op log holds. */
  opLogEntries: number;
}

export interface QueryServer {
  /** 'http://127.0.0.1:<port>' */
  url: string;
  /** Emits 'update' after every write to the index (POST /documents, `update`). */
  readonly events: EventEmitter;
  /** Ingests documents into the engine, then emits 'update'. */
  update(docs: Doc[]): Promise<{ documents: number; chunks: number }>;
  stats(): ServerStats;
  close(): Promise<void>;
}

/**
 * What a server keeps between requests, each part swappable: after.ts's are the defaults of its `startServer`, and a
 * wrong solution (wrong/*.ts) passes the one part it gets wrong.
 */
export interface ServerParts {
  /** The results cache, and how an update reaches it: made at start with the server's `events` and cache cap. */
  cache(events: EventEmitter, maxBytes: number): ServerCache;
  /** The op log behind /stats, made at start with `opLogSize`. */
  opLog(size: number): OpLog;
}

/** The results cache as /search and /stats use it. */
export interface ServerCache {
  /** The key a query's body is read and stored under, taken when the query starts. */
  key(p: SearchParams): string;
  get(key: string): string | undefined;
  set(key: string, body: string): void;
  /** Entries held, and their bytes counted like `entryBytes`. */
  readonly size: number;
  readonly bytes: number;
  /** Stops listening to `events` (at the server's close). */
  close(): void;
}

/** The searches /stats reports on. */
export interface OpLog {
  record(query: string, ms: number): void;
  /** Searches recorded since the start, and how many of them the log holds. */
  readonly requests: number;
  readonly entries: number;
  /** p99 latency of the searches held, 0 before the first. */
  p99(): number;
  /** The last RECENT queries, oldest first. */
  recent(): string[];
}

export interface SearchParams {
  query: string;
  k: number;
}

/** The /search parameters, or an error message naming the bad one. */
export function parseSearch(raw: unknown): SearchParams | string {
  const q = (raw ?? {}) as Record<string, unknown>;
  const query = typeof q.q === 'string' ? q.q : '';
  if (query.trim() === '') return 'q: a non-empty query is required';
  const k = q.k === undefined ? 5 : Number(q.k);
  if (!Number.isInteger(k) || k < 1 || k > 50) return `k: expected an integer from 1 to 50, got "${String(q.k)}"`;
  return { query, k };
}

/** Queries that differ only in case and white space get the same answer: one cache key. */
export function cacheKey(p: SearchParams): string {
  return `${p.k}\u0001${normalizeQuery(p.query)}`;
}

/** Bytes a cache entry costs: its key and body as V8 stores them, plus the per-entry overhead. */
export function entryBytes(key: string, body: string): number {
  return stringBytes(key) + stringBytes(body) + ENTRY_OVERHEAD_BYTES;
}

/** The /search body: the hits without the engine's timings (which differ on every call), and the answer's text. */
export function searchBody(r: QueryResult): string {
  return JSON.stringify({
    hits: r.hits.map((h) => ({ rank: h.rank, chunkId: h.chunkId, docId: h.docId, score: h.score, title: h.title, text: h.text })),
    answer: r.answer?.text ?? '',
  });
}

/** p99 (nearest rank) of some latencies, 0 for none. */
export function p99(latencies: ArrayLike<number>): number {
  if (latencies.length === 0) return 0;
  const sorted = Float64Array.from(latencies).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
}

/** The documents of a POST /documents body, or an error message. */
export function parseDocuments(body: unknown): Doc[] | string {
  const docs = (body as { documents?: unknown } | null)?.documents;
  if (!Array.isArray(docs) || docs.length === 0) return 'documents: a non-empty array is required';
  return docs as Doc[];
}

/** Listens on 127.0.0.1, a free port; returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
