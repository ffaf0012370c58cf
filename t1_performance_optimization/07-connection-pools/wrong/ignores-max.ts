/**
 * Wrong (on purpose): the pools are created once and reused, as the quick-starts show them: \`new Pool(origin)\`,
 * \`new pg.Pool({ connectionString })\`. The \`max\` the store was given is never passed on, so undici opens a new
 * connection whenever every open one is busy (no limit at all) and pg.Pool opens up to its default of 10. Reuse is
 * right; the bound is missing. Under a burst the server sees as many connections as there are calls in flight,
 * which is what takes a database down (\`too many clients already\`). The pool is also the limit.
 *
 * @rejected-with connections open at once; the store was given max 3
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
  const pool = new Pool(baseUrl); // no limit: a new connection whenever every open one is busy
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
  const pool = new pg.Pool({ connectionString: databaseUrl, application_name: opts.name ?? 'lab07' }); // pg's default max: 10
  pool.on('error', () => undefined); // an idle client lost its connection: the pool drops it and opens a new one later
  return {
    kind: 'pg',
    async get(id) {
      const r = await pool.query<ChunkRecord>(sql, [id]); // borrows a client, releases it on success and on error
      return r.rows[0] ?? null;
    },
    close: () => pool.end(),
  };
}
