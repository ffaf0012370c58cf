/**
 * EXERCISE 07-connection-pools — stop paying for a connection on every lookup.
 *
 * As shipped it is before.ts: every get opens a connection (a TCP handshake, and for Redis and Postgres the start-up
 * exchange; Postgres forks a server process for each one), asks once and closes it. Correct, and slow. Measure it
 * first, then change how each of the three stores holds its connections.
 *
 * What must hold (checked by `npm run checkpoint -- 07-connection-pools`; the Redis and PostgreSQL parts skip,
 * saying how to start the service, when it is unreachable):
 *
 *   - the interface of types.ts: redisStore / httpStore / pgStore → { kind, get(id), close() }; get returns the
 *     stored record, null for an unknown id, and rejects on a backend error (an HTTP status other than 200 and 404
 *     names the status); close() closes every connection the store holds;
 *   - a failed call gives its connection back: after a burst of errors (an HTTP 500, a Redis WRONGTYPE, a Postgres
 *     table that does not exist yet) the store still answers, within 5 s;
 *   - pgStore refuses a table name that is not a plain [schema.]identifier.
 *
 * What the checkpoint counts, through a proxy between the store and its server (counting-proxy.ts), and rejects:
 *
 *   - 20 lookups made one after another may open at most `max` connections (Redis: one). Opening one per lookup,
 *     however tidily (a fresh client, agent or pool for each call, closed after it), is rejected;
 *   - 60 lookups in flight at once may never hold more than `max` (default 10) open at the same time; for Redis,
 *     400 concurrent GETs may hold one.
 *
 * Measure yours beside the others: npm run t1 -- --only 07-connection-pools --impl exercise --quick
 * (the exercise row is your HTTP store; your Redis and PostgreSQL stores are the "exercise: redis" and
 * "exercise: pg" lines below the table, and the connections of all three are counted there.)
 * Stuck? npm run hint -- 07-connection-pools
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
