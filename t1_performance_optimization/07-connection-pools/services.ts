/**
 * The three backends the lesson's stores read chunks from, and what the benchmark and checkpoint need around them:
 * where they are, whether they answer, seeding Brown chunks into a namespace of their own and dropping it again.
 * (Connections are counted by counting-proxy.ts, between a store and its server.)
 *
 *   Redis       REDIS_URL, default redis://127.0.0.1:6379        keys <prefix><chunk id> → JSON record
 *   PostgreSQL  DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test
 *                                                              table lab07_<random>.chunks, dropped afterwards
 *   HTTP        chunk-service.ts, started on 127.0.0.1 port 0 inside this process
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import type { ChunkRecord } from './after.ts';

export const redisUrl = (): string => process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const databaseUrl = (): string => process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** The chunks of the first `docs` Brown documents as the records every store returns. */
export async function loadRecords(docs: number): Promise<ChunkRecord[]> {
  return (await loadBrown({ limit: docs }))
    .flatMap((d) => chunkDocument(d))
    .map((c) => ({ id: c.id, docId: c.docId, position: c.position, title: c.title ?? '', text: c.text }));
}

/** A fresh name for this run's keys, table and connection labels. */
export const namespace = (): string => `lab07_${randomBytes(4).toString('hex')}`;

// ---------------------------------------------------------------------------------------------------------------------
// Redis

/** undefined when Redis answers PING within a second, else why not and how to start it. */
export async function redisSkipReason(url = redisUrl()): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined;
  r.on('error', (err: Error) => (cause ??= err));
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `Redis unreachable at ${url} (${(cause ?? (err as Error)).message || 'no answer'}): start it with \`redis-server --daemonize yes\` (or \`docker run -d -p 6379:6379 redis\`), or set REDIS_URL`;
  } finally {
    r.disconnect();
  }
}

/** Writes every record under `<prefix><id>`; returns the admin connection (for `dropRedis`). */
export async function seedRedis(url: string, prefix: string, records: ChunkRecord[]): Promise<Redis> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  const pipe = admin.pipeline();
  for (const r of records) pipe.set(prefix + r.id, JSON.stringify(r));
  await pipe.exec();
  return admin;
}

export async function dropRedis(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await admin.quit();
}

// ---------------------------------------------------------------------------------------------------------------------
// PostgreSQL

export async function pgSkipReason(url = databaseUrl()): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL unreachable at ${url} (${(err as Error).message || 'no answer'}): start it with \`service postgresql start\` (or \`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres\`), or set DATABASE_URL`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Creates schema `schema` with table `chunks` holding the records; returns the admin client and the table name. */
export async function seedPg(url: string, schema: string, records: ChunkRecord[]): Promise<{ admin: pg.Client; table: string }> {
  const admin = new pg.Client({ connectionString: url, application_name: `${schema}_admin` });
  await admin.connect();
  const table = `${schema}.chunks`;
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${table} (id text PRIMARY KEY, doc_id text NOT NULL, position int NOT NULL, title text NOT NULL, text text NOT NULL)`);
    for (let i = 0; i < records.length; i += 500) {
      const part = records.slice(i, i + 500);
      await admin.query(
        `INSERT INTO ${table} (id, doc_id, position, title, text) SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[])`,
        [part.map((r) => r.id), part.map((r) => r.docId), part.map((r) => r.position), part.map((r) => r.title), part.map((r) => r.text)],
      );
    }
  } catch (err) {
    await dropPg(admin, schema);
    throw err;
  }
  return { admin, table };
}

export async function dropPg(admin: pg.Client, schema: string): Promise<void> {
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}
