/**
 * Wrong (on purpose): the Postgres store borrows a client from its pool (\`pool.connect()\`) and gives it back after
 * the query, but not when the query throws. Every failed query keeps one connection checked out for good; after
 * \`max\` failures the pool has none left, and every later call waits forever for a connection that will never come
 * back. Nothing is slow until then, and everything stops after. A connection goes back on every path, errors
 * included. (The Redis and HTTP stores are the correct ones.)
 *
 * @rejected-with a failed call never gave its connection back to the pool
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';

import type { ChunkRecord, ChunkStore, StoreOptions } from '../types.ts';

export type { ChunkRecord, ChunkStore, StoreOptions };

/** Chunk records stored as JSON strings under `<keyPrefix><id>`. */
export function redisStore(url: string, keyPrefix: string, opts: StoreOptions = {}): ChunkStore {
  const redis = new Redis(url, { connectionName: opts.name ?? 'lab07', enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  return {
    kind: 'redis',
    async get(id) {
      const json = await redis.get(keyPrefix + id);
      return json === null ? null : (JSON.parse(json) as ChunkRecord);
    },
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** GET <baseUrl>/chunks/<id>: 200 → record, 404 → null, anything else → Error. */
export function httpStore(baseUrl: string, opts: StoreOptions = {}): ChunkStore {
  const pool = new Pool(baseUrl, { connections: opts.max ?? 10, pipelining: 1 });
  return {
    kind: 'http',
    async get(id) {
      const res = await pool.request({ method: 'GET', path: `/chunks/${encodeURIComponent(id)}` });
      const body = await res.body.text(); // always consume: the connection is free again only once the body is read
      if (res.statusCode === 404) return null;
      if (res.statusCode !== 200) throw new Error(`chunk service: GET /chunks/${id} answered ${res.statusCode}: ${body.slice(0, 200)}`);
      return JSON.parse(body) as ChunkRecord;
    },
    close: () => pool.close(),
  };
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** SELECT from `table` (columns id, doc_id, position, title, text); `table` must be a plain [schema.]name. */
export function pgStore(databaseUrl: string, table: string, opts: StoreOptions = {}): ChunkStore {
  if (!TABLE_NAME.test(table)) throw new Error(`pgStore: table must be a plain [schema.]name, got "${table}"`);
  const sql = `SELECT id, doc_id AS "docId", position, title, text FROM ${table} WHERE id = $1`;
  const pool = new pg.Pool({ connectionString: databaseUrl, application_name: opts.name ?? 'lab07', max: opts.max ?? 10 });
  pool.on('error', () => undefined); // an idle client lost its connection: the pool drops it and opens a new one later
  return {
    kind: 'pg',
    async get(id) {
      const client = await pool.connect();
      const r = await client.query<ChunkRecord>(sql, [id]);
      client.release(); // never reached when the query throws
      return r.rows[0] ?? null;
    },
    close: () => pool.end(),
  };
}
