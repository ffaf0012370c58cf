/**
 * Wrong (on purpose): the pools are created once and reused, as the quick-starts show them: \`new Pool(origin)\`,
 * \`new pg.Pool({ connectionString })\`. The \`max\` the store was given is never passed on, so undici opens a new
 * connection whenever every open one is busy (no limit at all) and pg.Pool opens up to its default of 10. Reuse is
 * right; the bound is missing. Under a burst the server sees as many connections as there are calls in flight,
 * which is what takes a database down (\`too many clients already\`). The pool is also the limit.
 *
 * What differs from after.ts: httpStore's pool has no `connections` bound, and pgStore is after.ts's called without
 * the `max` it was given (so 10, pg.Pool's own default); redisStore is after.ts's.
 *
 * @rejected-with connections open at once; the store was given max 3
 */
import { Pool } from 'undici';
import { pgStore as pooledPgStore, type ChunkRecord, type ChunkStore, type StoreOptions } from '../after.ts';

export { redisStore, type ChunkRecord, type ChunkStore, type StoreOptions } from '../after.ts';

/** GET <baseUrl>/chunks/<id>: 200 → record, 404 → null, anything else → Error. */
export function httpStore(baseUrl: string, _opts: StoreOptions = {}): ChunkStore {
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

/** SELECT from `table`, through a pool of pg's default size whatever `max` says. */
export function pgStore(databaseUrl: string, table: string, opts: StoreOptions = {}): ChunkStore {
  return pooledPgStore(databaseUrl, table, { ...opts, max: undefined }); // `max` is not passed on
}
