/**
 * Wrong (on purpose): the right tools in the wrong place. Each get creates its own pool (an undici Pool, an
 * auto-pipelined ioredis client, a pg.Pool), uses it for one lookup and closes it. It looks pooled and it is tidy,
 * but a pool that lives for one call holds one connection for one call: every lookup still pays the handshake and
 * the start-up exchange (and a forked Postgres process), exactly as before.ts does. The pool has to outlive the call.
 *
 * @rejected-with 20 lookups one after another opened 20 connections
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';

import type { ChunkRecord, ChunkStore, StoreOptions } from '../types.ts';

export type { ChunkRecord, ChunkStore, StoreOptions };

/** Chunk records stored as JSON strings under `<keyPrefix><id>`. */
export function redisStore(url: string, keyPrefix: string, opts: StoreOptions = {}): ChunkStore {
  return {
    kind: 'redis',
    async get(id) {
      const redis = new Redis(url, { connectionName: opts.name ?? 'lab07', enableAutoPipelining: true, maxRetriesPerRequest: 1 });
      try {
        const json = await redis.get(keyPrefix + id);
        return json === null ? null : (JSON.parse(json) as ChunkRecord);
      } finally {
        await redis.quit().catch(() => redis.disconnect());
      }
    },
    close: async () => undefined,
  };
}

/** GET <baseUrl>/chunks/<id>: 200 → record, 404 → null, anything else → Error. */
export function httpStore(baseUrl: string, opts: StoreOptions = {}): ChunkStore {
  return {
    kind: 'http',
    async get(id) {
      const pool = new Pool(baseUrl, { connections: opts.max ?? 10 });
      try {
        const res = await pool.request({ method: 'GET', path: `/chunks/${encodeURIComponent(id)}` });
        const body = await res.body.text();
        if (res.statusCode === 404) return null;
        if (res.statusCode !== 200) throw new Error(`chunk service: GET /chunks/${id} answered ${res.statusCode}: ${body.slice(0, 200)}`);
        return JSON.parse(body) as ChunkRecord;
      } finally {
        await pool.close();
      }
    },
    close: async () => undefined,
  };
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** SELECT from `table` (columns id, doc_id, position, title, text); `table` must be a plain [schema.]name. */
export function pgStore(databaseUrl: string, table: string, opts: StoreOptions = {}): ChunkStore {
  if (!TABLE_NAME.test(table)) throw new Error(`pgStore: table must be a plain [schema.]name, got "${table}"`);
  const sql = `SELECT id, doc_id AS "docId", position, title, text FROM ${table} WHERE id = $1`;
  return {
    kind: 'pg',
    async get(id) {
      const pool = new pg.Pool({ connectionString: databaseUrl, application_name: opts.name ?? 'lab07', max: opts.max ?? 10 });
      try {
        const r = await pool.query<ChunkRecord>(sql, [id]);
        return r.rows[0] ?? null;
      } finally {
        await pool.end();
      }
    },
    close: async () => undefined,
  };
}
