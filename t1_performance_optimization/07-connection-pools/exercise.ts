/**
 * EXERCISE 07-connection-pools — reuse connections instead of opening one per call.
 * Check with: npm run checkpoint -- 07-connection-pools   (Redis and PostgreSQL parts skip when unreachable)
 *
 * before.ts opens (and closes) a connection for every get. Rewrite the three stores so each opens its connections
 * once, when the store is created, and `close()` closes them (search for TODO):
 *
 * 1. `redisStore`: ONE `new Redis(url, { connectionName, enableAutoPipelining: true, maxRetriesPerRequest: 1 })`
 *    shared by every get; `close()` quits it.
 * 2. `httpStore`: an undici `Pool(baseUrl, { connections: max })`; ALWAYS read the body (even for a 404 or a 500)
 *    before returning or throwing: an unread body keeps its connection busy and the pool runs dry.
 * 3. `pgStore`: a `pg.Pool({ connectionString, application_name: name, max })` and `pool.query(sql, [id])`, which
 *    borrows a client and releases it on success and on error; `close()` is `pool.end()`.
 *
 * The checkpoint counts connections server-side: a pooled store never holds more than `max` (Redis: 1).
 * The solution is in after.ts; try first.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';

import type { ChunkRecord, ChunkStore, StoreOptions } from './types.ts';

export type { ChunkRecord, ChunkStore, StoreOptions };

/** Chunk records stored as JSON strings under `<keyPrefix><id>`. */
export function redisStore(url: string, keyPrefix: string, opts: StoreOptions = {}): ChunkStore {
  // TODO(1): one shared ioredis client with enableAutoPipelining; get → redis.get(keyPrefix + id) → JSON.parse or null.
  void [Redis, url, keyPrefix, opts];
  throw new Error('TODO(07-connection-pools, step 1): share one auto-pipelined Redis client in redisStore (exercise.ts)');
}

/** GET <baseUrl>/chunks/<id>: 200 → record, 404 → null, anything else → Error. */
export function httpStore(baseUrl: string, opts: StoreOptions = {}): ChunkStore {
  // TODO(2): an undici Pool of at most opts.max ?? 10 connections; read the body on every path; 404 → null,
  //          non-200 → Error naming the status, 200 → the parsed record. close() → pool.close().
  void [Pool, baseUrl, opts];
  throw new Error('TODO(07-connection-pools, step 2): request through an undici Pool in httpStore (exercise.ts)');
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** SELECT from `table` (columns id, doc_id, position, title, text); `table` must be a plain [schema.]name. */
export function pgStore(databaseUrl: string, table: string, opts: StoreOptions = {}): ChunkStore {
  if (!TABLE_NAME.test(table)) throw new Error(`pgStore: table must be a plain [schema.]name, got "${table}"`);
  const sql = `SELECT id, doc_id AS "docId", position, title, text FROM ${table} WHERE id = $1`;
  // TODO(3): a pg.Pool ({ connectionString: databaseUrl, application_name: opts.name ?? 'lab07', max: opts.max ?? 10 })
  //          and pool.query(sql, [id]) → rows[0] ?? null; close() → pool.end().
  void [pg, sql];
  throw new Error('TODO(07-connection-pools, step 3): query through a pg.Pool in pgStore (exercise.ts)');
}
