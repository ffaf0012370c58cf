/**
 * Checkpoint for 07-connection-pools. `npm run checkpoint -- 07-connection-pools` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts and after.ts.
 *
 * For each backend: the store returns exactly the seeded records (null for an unknown id); a pooled store never has
 * more than `max` connections open, counted by the SERVER (the HTTP service's sockets, Redis CLIENT LIST, Postgres
 * pg_stat_activity); and a connection is released when a call fails, so a burst of errors cannot exhaust the pool.
 * Redis and PostgreSQL parts skip, with how to start them, when the service is unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { ChunkRecord, ChunkStore, StoreOptions } from './after.ts';
import { startChunkService, type ChunkService } from './chunk-service.ts';
import {
  databaseUrl,
  dropPg,
  dropRedis,
  loadRecords,
  namespace,
  pgConnections,
  pgSkipReason,
  redisConnections,
  redisSkipReason,
  redisUrl,
  seedPg,
  seedRedis,
} from './services.ts';

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

/** Reject if `p` takes longer than `ms` (a leaked connection shows up as a call that never gets one). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms (was a connection never released?)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Run `burst` while sampling `count()`; returns the highest count seen. */
async function peakDuring(count: () => Promise<number> | number, burst: () => Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await count());
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    await burst();
  } finally {
    done = true;
    await sampler;
  }
  return Math.max(peak, await count());
}

async function eventually(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectSameRecords(store: ChunkStore): Promise<void> {
  const got = await Promise.all(sample.map((r) => store.get(r.id)));
  expect(got).toEqual(sample);
  expect(await store.get('no-such-chunk')).toBeNull();
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const pooled = name !== 'before';

  describe('http (loopback chunk service)', () => {
    let svc: ChunkService;
    beforeAll(async () => {
      svc = await startChunkService(records);
    });
    afterAll(() => svc?.close());

    it('returns exactly the stored records, null for an unknown id', async () => {
      const store = impl.httpStore(svc.url);
      try {
        await expectSameRecords(store);
      } finally {
        await store.close();
      }
    });

    it.runIf(pooled)('never has more than max connections open, counted by the server', async () => {
      const store = impl.httpStore(svc.url, { max: 3 });
      try {
        await eventually('earlier tests’ connections to close', async () => svc.open() === 0);
        svc.resetPeak();
        const before = svc.accepted();
        const got = await Promise.all(Array.from({ length: 60 }, (_, i) => store.get(sample[i % sample.length].id)));
        expect(got.map((r) => r?.id)).toEqual(Array.from({ length: 60 }, (_, i) => sample[i % sample.length].id));
        expect(svc.peak()).toBeLessThanOrEqual(3);
        expect(svc.accepted() - before).toBeLessThanOrEqual(3);
      } finally {
        await store.close();
      }
    });

    it('releases the connection when a call fails: a burst of errors does not exhaust the store', async () => {
      const store = impl.httpStore(svc.url, { max: 2 });
      try {
        const failures = await Promise.allSettled(Array.from({ length: 12 }, () => store.get('boom')));
        for (const f of failures) {
          expect(f.status).toBe('rejected');
          expect(String((f as PromiseRejectedResult).reason)).toMatch(/500/);
        }
        expect(await within(5_000, store.get(sample[0].id), 'get after errors')).toEqual(sample[0]);
        if (pooled) expect(svc.open()).toBeLessThanOrEqual(2);
      } finally {
        await store.close();
      }
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

    it('returns exactly the stored records, null for an unknown id', async () => {
      const store = impl.redisStore(redisUrl(), prefix, { name: `${ns}_${name}_r1` });
      try {
        await expectSameRecords(store);
      } finally {
        await store.close();
      }
    });

    it.runIf(pooled)('uses one connection for any number of concurrent GETs (CLIENT LIST)', async () => {
      const label = `${ns}_${name}_r2`;
      const store = impl.redisStore(redisUrl(), prefix, { name: label, max: 4 });
      try {
        await store.get(sample[0].id);
        const peak = await peakDuring(
          () => redisConnections(admin, label),
          () => Promise.all(Array.from({ length: 400 }, (_, i) => store.get(sample[i % sample.length].id))),
        );
        expect(peak).toBe(1);
      } finally {
        await store.close();
      }
    });

    it('releases the connection when a call fails (WRONGTYPE) and keeps answering', async () => {
      const label = `${ns}_${name}_r3`;
      const store = impl.redisStore(redisUrl(), prefix, { name: label, max: 2 });
      try {
        const failures = await Promise.allSettled(Array.from({ length: 8 }, () => store.get('wrongtype')));
        for (const f of failures) expect(String((f as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
        expect(await within(5_000, store.get(sample[1].id), 'get after errors')).toEqual(sample[1]);
        await eventually('connections closed or back to the pool', async () => (await redisConnections(admin, label)) <= (pooled ? 1 : 0));
      } finally {
        await store.close();
      }
    });
  });

  describe.skipIf(Boolean(pgSkip))(pgSkip ? `postgres skipped: ${pgSkip}` : 'postgres', () => {
    const schema = `${ns}_${name}`;
    let admin: pg.Client;
    let table: string;
    beforeAll(async () => {
      ({ admin, table } = await seedPg(databaseUrl(), schema, records));
    });
    afterAll(() => admin && dropPg(admin, schema));

    it('returns exactly the stored records, null for an unknown id', async () => {
      const store = impl.pgStore(databaseUrl(), table, { name: `${schema}_p1` });
      try {
        await expectSameRecords(store);
      } finally {
        await store.close();
      }
    });

    it.runIf(pooled)('never has more than max connections open (pg_stat_activity)', async () => {
      const label = `${schema}_p2`;
      const store = impl.pgStore(databaseUrl(), table, { name: label, max: 3 });
      try {
        const peak = await peakDuring(
          () => pgConnections(admin, label),
          () => Promise.all(Array.from({ length: 60 }, (_, i) => store.get(sample[i % sample.length].id))),
        );
        expect(peak).toBeGreaterThan(0);
        expect(peak).toBeLessThanOrEqual(3);
      } finally {
        await store.close();
      }
    });

    it('releases the connection when a query fails, so the store recovers once the table exists', async () => {
      const label = `${schema}_p3`;
      const late = `${schema}.late`;
      const store = impl.pgStore(databaseUrl(), late, { name: label, max: 2 });
      try {
        const failures = await Promise.allSettled(Array.from({ length: 8 }, () => store.get(sample[0].id)));
        for (const f of failures) expect(String((f as PromiseRejectedResult).reason)).toMatch(/does not exist/);
        await admin.query(`CREATE TABLE ${late} AS SELECT * FROM ${table}`);
        expect(await within(5_000, store.get(sample[2].id), 'query after errors')).toEqual(sample[2]);
        await eventually('connections closed or back to the pool', async () => (await pgConnections(admin, label)) <= (pooled ? 2 : 0));
      } finally {
        await store.close();
      }
    });

    it('refuses a table name that is not a plain identifier', () => {
      expect(() => impl.pgStore(databaseUrl(), 'chunks; DROP TABLE x')).toThrow(/plain/);
    });
  });
});

