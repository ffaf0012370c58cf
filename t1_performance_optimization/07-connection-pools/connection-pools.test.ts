/**
 * Checkpoint for 07-connection-pools. `npm run checkpoint -- 07-connection-pools` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts and after.ts.
 *
 * For each backend: the store returns exactly the seeded records (null for an unknown id), and gives its connection
 * back when a call fails, so a burst of errors cannot leave it without one. Then what the lesson is about, for
 * everything but before.ts, COUNTED rather than timed: a loopback proxy between the store and its server
 * (counting-proxy.ts) sees every connection the store opens. Lookups made one after another must reuse connections;
 * a burst of concurrent lookups must never hold more than `max` (Redis: one) open at once.
 * Redis and PostgreSQL parts skip, with how to start them, when the service is unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { ChunkRecord, ChunkStore, StoreOptions } from './after.ts';
import { startChunkService, type ChunkService } from './chunk-service.ts';
import { startCountingProxy } from './counting-proxy.ts';
import { databaseUrl, dropPg, dropRedis, loadRecords, namespace, pgSkipReason, redisSkipReason, redisUrl, seedPg, seedRedis } from './services.ts';

interface Mod {
  redisStore(url: string, keyPrefix: string, opts?: StoreOptions): ChunkStore;
  httpStore(baseUrl: string, opts?: StoreOptions): ChunkStore;
  pgStore(databaseUrl: string, table: string, opts?: StoreOptions): ChunkStore;
}

const [redisSkip, pgSkip] = await Promise.all([redisSkipReason(), pgSkipReason()]);
if (redisSkip) console.warn(`07-connection-pools: Redis part skipped: ${redisSkip}`);
if (pgSkip) console.warn(`07-connection-pools: PostgreSQL part skipped: ${pgSkip}`);

const records = await loadRecords(6);
const sample = records.filter((_, i) => i % 5 === 0).slice(0, 16);
const ns = namespace();
const MAX = 3;
const SEQUENTIAL = 20;
const BURST = 60;

/** Reject with `message` if `p` takes longer than `ms` (a leaked connection shows up as a call that never gets one). */
function within<T>(ms: number, p: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Make a store that reaches `target` through a counting proxy, run `work` on it, close it; return how many
 * connections it opened and the most it held open at once.
 */
async function counted(target: string, make: (url: string) => ChunkStore, work: (s: ChunkStore) => Promise<unknown>): Promise<{ opened: number; peak: number }> {
  const proxy = await startCountingProxy(target);
  const store = make(proxy.url(target));
  try {
    await work(store);
  } catch (err) {
    // A store that leaked a connection may never finish closing (its pool waits for the connection to come back),
    // and cutting that connection would surface as an unhandled error in the client: leave it to the process's end.
    await within(1_000, store.close(), 'close').catch(() => undefined);
    proxy.abandon();
    throw err;
  }
  await within(5_000, store.close(), 'close() did not finish within 5 s: is a connection still checked out?');
  await proxy.close();
  return { opened: proxy.opened(), peak: proxy.peak() };
}

async function oneAfterAnother(store: ChunkStore): Promise<void> {
  for (let i = 0; i < SEQUENTIAL; i++) expect(await store.get(sample[i % sample.length].id)).toEqual(sample[i % sample.length]);
}

async function allAtOnce(store: ChunkStore, n: number): Promise<void> {
  const got = await Promise.all(Array.from({ length: n }, (_, i) => store.get(sample[i % sample.length].id)));
  expect(got.map((r) => r?.id)).toEqual(Array.from({ length: n }, (_, i) => sample[i % sample.length].id));
}

function expectReused(backend: string, opened: number, allowed: number): void {
  expect(
    opened,
    `${backend}: ${SEQUENTIAL} lookups one after another opened ${opened} connections ` +
      `(${allowed === 1 ? 'one is all it needs' : `the store was given max ${MAX}`}): ` +
      (opened >= SEQUENTIAL
        ? 'a new connection for every lookup, none reused; each one pays the handshake and start-up again'
        : `more than the ${allowed} it needs when one lookup at a time is in flight`),
  ).toBeLessThanOrEqual(allowed);
}

async function expectSameRecords(store: ChunkStore): Promise<void> {
  const got = await Promise.all(sample.map((r) => store.get(r.id)));
  expect(got, 'the store returned other records than the ones seeded').toEqual(sample);
  expect(await store.get('no-such-chunk'), 'an unknown id must give null').toBeNull();
}

const leaked = (backend: string, failures: number, max: number, what: string) =>
  `${backend}: ${failures} failing ${what} with max ${max}, then one that should succeed, did not all answer within 5 s: ` +
  `a failed call never gave its connection back to the pool, and the calls after it wait for one forever`;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const pooled = name !== 'before';

  describe('http (loopback chunk service)', () => {
    let svc: ChunkService;
    beforeAll(async () => {
      svc = await startChunkService(records);
    });
    afterAll(() => svc?.close());

    it('returns exactly the stored records, null for an unknown id', async () => {
      await counted(svc.url, (url) => impl.httpStore(url), expectSameRecords);
    });

    it('gives the connection back when a call fails: a burst of errors does not leave the store without one', async () => {
      const store = impl.httpStore(svc.url, { max: 2 });
      try {
        const why = leaked('http', 12, 2, 'requests');
        const failures = await within(5_000, Promise.allSettled(Array.from({ length: 12 }, () => store.get('boom'))), why);
        for (const f of failures) {
          expect(f.status, 'GET /chunks/boom answers 500: get must reject').toBe('rejected');
          expect(String((f as PromiseRejectedResult).reason), 'the error must name the status').toMatch(/500/);
        }
        expect(await within(5_000, store.get(sample[0].id), why)).toEqual(sample[0]);
      } finally {
        await store.close();
      }
    });

    describe.skipIf(!pooled)('connections, counted', () => {
      it(`reuses connections: ${SEQUENTIAL} lookups one after another open at most ${MAX}`, async () => {
        const { opened } = await counted(svc.url, (url) => impl.httpStore(url, { max: MAX }), oneAfterAnother);
        expectReused('http', opened, MAX);
      });

      it(`never holds more than max open: ${BURST} concurrent lookups with max ${MAX}`, async () => {
        const { peak } = await counted(svc.url, (url) => impl.httpStore(url, { max: MAX }), (s) => allAtOnce(s, BURST));
        expect(
          peak,
          `http: ${BURST} concurrent lookups held ${peak} connections open at once; the store was given max ${MAX}: ` +
            'the pool is also the limit, the requests beyond it wait for a free connection',
        ).toBeLessThanOrEqual(MAX);
      });
    });
  });

  describe.skipIf(Boolean(redisSkip))(redisSkip ? `redis skipped: ${redisSkip}` : 'redis', () => {
    const prefix = `${ns}:${name}:`;
    let admin: Redis;
    beforeAll(async () => {
      admin = await seedRedis(redisUrl(), prefix, records);
      await admin.hset(`${prefix}wrongtype`, 'not', 'a string');
    });
    afterAll(() => admin && dropRedis(admin, prefix));
    const make = (opts: StoreOptions = {}) => (url: string) => impl.redisStore(url, prefix, { name: `${ns}_${name}`, ...opts });

    it('returns exactly the stored records, null for an unknown id', async () => {
      await counted(redisUrl(), make(), expectSameRecords);
    });

    it('gives the connection back when a call fails (WRONGTYPE) and keeps answering', async () => {
      await counted(redisUrl(), make({ max: 2 }), async (store) => {
        const why = leaked('redis', 8, 2, 'GETs');
        const failures = await within(5_000, Promise.allSettled(Array.from({ length: 8 }, () => store.get('wrongtype'))), why);
        for (const f of failures) expect(String((f as PromiseRejectedResult).reason), 'a GET of a hash must reject with WRONGTYPE').toMatch(/WRONGTYPE/);
        expect(await within(5_000, store.get(sample[1].id), why)).toEqual(sample[1]);
      });
    });

    describe.skipIf(!pooled)('connections, counted', () => {
      it(`reuses its connection: ${SEQUENTIAL} GETs one after another open one`, async () => {
        const { opened } = await counted(redisUrl(), make({ max: MAX }), oneAfterAnother);
        expectReused('redis', opened, 1);
      });

      it('uses one connection for any number of concurrent GETs', async () => {
        const { opened, peak } = await counted(redisUrl(), make({ max: MAX }), (s) => allAtOnce(s, 400));
        expect(
          peak,
          `redis: 400 concurrent GETs held ${peak} connections open at once (${opened} opened): ` +
            'Redis answers in order on one connection, and pipelining puts the GETs of one tick in one write',
        ).toBeLessThanOrEqual(1);
      });
    });
  });

  describe.skipIf(Boolean(pgSkip))(pgSkip ? `postgres skipped: ${pgSkip}` : 'postgres', () => {
    const schema = `${ns}_${name.replace(/[^a-z0-9]/g, '_')}`;
    let admin: pg.Client;
    let table: string;
    beforeAll(async () => {
      ({ admin, table } = await seedPg(databaseUrl(), schema, records));
    });
    afterAll(() => admin && dropPg(admin, schema));
    const make = (t: () => string, opts: StoreOptions = {}) => (url: string) => impl.pgStore(url, t(), { name: schema, ...opts });

    it('returns exactly the stored records, null for an unknown id', async () => {
      await counted(databaseUrl(), make(() => table), expectSameRecords);
    });

    it('gives the connection back when a query fails, so the store recovers once the table exists', async () => {
      const late = `${schema}.late`;
      await counted(databaseUrl(), make(() => late, { max: 2 }), async (store) => {
        const why = leaked('pg', 8, 2, 'queries');
        const failures = await within(5_000, Promise.allSettled(Array.from({ length: 8 }, () => store.get(sample[0].id))), why);
        for (const f of failures) expect(String((f as PromiseRejectedResult).reason), 'a query on a missing table must reject').toMatch(/does not exist/);
        await admin.query(`CREATE TABLE ${late} AS SELECT * FROM ${table}`);
        expect(await within(5_000, store.get(sample[2].id), why)).toEqual(sample[2]);
      });
    });

    it('refuses a table name that is not a plain identifier', () => {
      expect(() => impl.pgStore(databaseUrl(), 'chunks; DROP TABLE x')).toThrow(/plain/);
    });

    describe.skipIf(!pooled)('connections, counted', () => {
      it(`reuses connections: ${SEQUENTIAL} queries one after another open at most ${MAX}`, async () => {
        const { opened } = await counted(databaseUrl(), make(() => table, { max: MAX }), oneAfterAnother);
        expectReused('pg', opened, MAX);
      });

      it(`never holds more than max open: ${BURST} concurrent queries with max ${MAX}`, async () => {
        const { peak } = await counted(databaseUrl(), make(() => table, { max: MAX }), (s) => allAtOnce(s, BURST));
        expect(
          peak,
          `pg: ${BURST} concurrent queries held ${peak} connections open at once; the store was given max ${MAX}: ` +
            'each one is a server process; the pool is also the limit, the queries beyond it wait for a free connection',
        ).toBeLessThanOrEqual(MAX);
      });
    });
  });
});
