/**
 * Wrong (on purpose): the Postgres store borrows a client from its pool (\`pool.connect()\`) and gives it back after
 * the query, but not when the query throws. Every failed query keeps one connection checked out for good; after
 * \`max\` failures the pool has none left, and every later call waits forever for a connection that will never come
 * back. Nothing is slow until then, and everything stops after. A connection goes back on every path, errors
 * included. (The Redis and HTTP stores are the correct ones.)
 *
 * What differs from after.ts: pgStore's `get` (connect, query, release, with no release on error); redisStore and
 * httpStore are after.ts's.
 *
 * @rejected-with a failed call never gave its connection back to the pool
 */
import pg from 'pg';
import type { ChunkRecord, ChunkStore, StoreOptions } from '../after.ts';

export { httpStore, redisStore, type ChunkRecord, type ChunkStore, type StoreOptions } from '../after.ts';

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
