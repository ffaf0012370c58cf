/**
 * Fetching chunks by id from Redis, an HTTP service and PostgreSQL, the way it is usually written first: open a
 * connection for the call, use it once, close it.
 *
 *   redis  new Redis() → GET → QUIT             a TCP handshake + SETNAME / ready-check INFO round trips + teardown per GET
 *   http   new undici Client → GET → close()    a TCP handshake per request; no keep-alive
 *   pg     new pg.Client() → connect → SELECT → end()
 *                                               a TCP handshake, the startup/auth exchange and a new server
 *                                               PROCESS forked by Postgres for every single query
 *
 * Correct, and every store releases its connection on error too (try/finally). But the connection work dwarfs the
 * lookup, and the number of open connections is as high as the number of calls in flight: `max` is not honoured.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { Client } from 'undici';

import type { ChunkRecord, ChunkStore, StoreOptions } from './types.ts';

export type { ChunkRecord, ChunkStore, StoreOptions };

/** Chunk records stored as JSON strings under `<keyPrefix><id>`. */
export function redisStore(url: string, keyPrefix: string, opts: StoreOptions = {}): ChunkStore {
  return {
    kind: 'redis',
    async get(id) {
      const redis = new Redis(url, { connectionName: opts.name ?? 'lab07', maxRetriesPerRequest: 1 });
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
export function httpStore(baseUrl: string, _opts: StoreOptions = {}): ChunkStore {
  return {
    kind: 'http',
    async get(id) {
      const client = new Client(baseUrl);
      try {
        const res = await client.request({ method: 'GET', path: `/chunks/${encodeURIComponent(id)}` });
        const body = await res.body.text();
        if (res.statusCode === 404) return null;
        if (res.statusCode !== 200) throw new Error(`chunk service: GET /chunks/${id} answered ${res.statusCode}: ${body.slice(0, 200)}`);
        return JSON.parse(body) as ChunkRecord;
      } finally {
        await client.close();
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
      const client = new pg.Client({ connectionString: databaseUrl, application_name: opts.name ?? 'lab07' });
      await client.connect();
      try {
        const r = await client.query<ChunkRecord>(sql, [id]);
        return r.rows[0] ?? null;
      } finally {
        await client.end();
      }
    },
    close: async () => undefined,
  };
}
