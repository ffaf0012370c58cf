/**
 * Benchmark for 07-connection-pools: hydrate one query's top-10 hits (10 chunk lookups by id, all in flight at once)
 * from an HTTP chunk service, Redis and PostgreSQL, opening a connection per lookup (before.ts) or through a pool
 * (after.ts). Needs Redis (REDIS_URL) and PostgreSQL (DATABASE_URL) for those parts; without them only HTTP runs.
 * Run: npm run t1 -- --only 07-connection-pools [--quick]
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { defineLesson, type Metric, type VariantFn } from '../../shared/lab/lesson.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { startChunkService, type ChunkService } from './chunk-service.ts';
import {
  databaseUrl,
  dropPg,
  dropRedis,
  loadRecords,
  namespace,
  pgSkipReason,
  redisSkipReason,
  redisUrl,
  seedPg,
  seedRedis,
} from './services.ts';

interface Size {
  /** Brown documents whose chunks are stored. */
  docs: number;
  /** Lookups per variant call (one query's hits). */
  k: number;
  /** Pool size for the HTTP and Postgres pools. */
  max: number;
  /** Time budget (ms) per backend for the interleaved pair comparison of `extras` (at least 3 calls each). */
  pairMs: number;
}

type Backend = 'http' | 'redis' | 'pg';

interface Pair {
  backend: Backend;
  naive: string;
  pooled: string;
}

const PAIRS: Pair[] = [
  { backend: 'http', naive: 'http: new connection per request', pooled: 'http: keep-alive Pool' },
  { backend: 'redis', naive: 'redis: connect + QUIT per GET', pooled: 'redis: one client, auto-pipelined' },
  { backend: 'pg', naive: 'pg: new Client per query', pooled: 'pg: pg.Pool' },
];

interface Input {
  size: Size;
  batches: string[][];
  cursor: Record<string, number>;
  stores: Map<string, before.ChunkStore>;
  svc: ChunkService;
  redis?: { admin: Redis; prefix: string };
  pg?: { admin: pg.Client; schema: string };
}

// Probed when the module loads: the variants of an unreachable service are left out (with the reason printed), so
// the lesson still runs the parts it can.
const [redisSkip, pgSkip] = await Promise.all([redisSkipReason(), pgSkipReason()]);
const skipped: Partial<Record<Backend, string>> = { ...(redisSkip ? { redis: redisSkip } : {}), ...(pgSkip ? { pg: pgSkip } : {}) };
const active = PAIRS.filter((p) => !skipped[p.backend]);

/** One call: fetch the next batch of k ids through `store`, all at once; throws if any record is missing. */
async function hydrate(input: Input, name: string): Promise<number> {
  const i = input.cursor[name] ?? 0;
  input.cursor[name] = i + 1;
  const ids = input.batches[i % input.batches.length];
  const got = await Promise.all(ids.map((id) => input.stores.get(name)!.get(id)));
  let chars = 0;
  for (const r of got) {
    if (r === null) throw new Error(`${name}: a stored chunk came back as null`);
    chars += r.text.length;
  }
  return chars;
}

const variants: Record<string, VariantFn<Input>> = {};
for (const p of active) {
  variants[p.naive] = (input) => hydrate(input, p.naive);
  variants[p.pooled] = (input) => hydrate(input, p.pooled);
}

async function release(input: Partial<Input>): Promise<void> {
  await Promise.allSettled([...(input.stores?.values() ?? [])].map((s) => s.close()));
  await Promise.allSettled([
    input.svc?.close(),
    input.redis && dropRedis(input.redis.admin, input.redis.prefix),
    input.pg && dropPg(input.pg.admin, input.pg.schema),
  ]);
}

export default defineLesson<Size, Input>({
  id: 't1/07-connection-pools',
  title: 'Connection pools: a connection per request vs pooled clients (HTTP, Redis, PostgreSQL)',
  workload:
    'hydrate one query’s top-k hits: k chunk lookups by id, all in flight at once, from a loopback HTTP chunk ' +
    'service, Redis (JSON per key) and PostgreSQL (a temp table of Brown chunks); every variant returns the same records',
  sizes: {
    quick: { docs: 40, k: 10, max: 10, pairMs: 1_500 },
    full: { docs: 500, k: 10, max: 10, pairMs: 8_000 },
  },
  setup: async (size, ctx) => {
    for (const [backend, why] of Object.entries(skipped)) ctx.log(`${backend} part skipped: ${why}`);
    const records = await loadRecords(size.docs);
    const rand = mulberry32(7);
    const batches = Array.from({ length: 64 }, () => Array.from({ length: size.k }, () => records[Math.floor(rand() * records.length)].id));
    const ns = namespace();
    const input: Partial<Input> = { size, batches, cursor: {}, stores: new Map() };
    try {
      ctx.log(`${records.length} chunks; seeding ${['http', ...active.filter((p) => p.backend !== 'http').map((p) => p.backend)].join(', ')}`);
      input.svc = await startChunkService(records);
      const opts = { max: size.max, name: ns };
      const stores = input.stores!;
      stores.set(PAIRS[0].naive, before.httpStore(input.svc.url, opts));
      stores.set(PAIRS[0].pooled, after.httpStore(input.svc.url, opts));
      if (!skipped.redis) {
        const prefix = `${ns}:chunk:`;
        input.redis = { admin: await seedRedis(redisUrl(), prefix, records), prefix };
        stores.set(PAIRS[1].naive, before.redisStore(redisUrl(), prefix, opts));
        stores.set(PAIRS[1].pooled, after.redisStore(redisUrl(), prefix, opts));
      }
      if (!skipped.pg) {
        const { admin, table } = await seedPg(databaseUrl(), ns, records);
        input.pg = { admin, schema: ns };
        stores.set(PAIRS[2].naive, before.pgStore(databaseUrl(), table, opts));
        stores.set(PAIRS[2].pooled, after.pgStore(databaseUrl(), table, opts));
      }
      return input as Input;
    } catch (err) {
      await release(input);
      throw err;
    }
  },
  teardown: (input) => release(input),
  baseline: PAIRS[0].naive,
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants,
  // a naive Postgres call opens k connections (a server process each): keep its minimum sample count small
  options: { iterations: 5 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    for (const p of active) {
      // naive, pooled, pooled, naive, ... on the same batches until the time budget is spent: the per-pair ratio
      const t: Record<string, number[]> = { [p.naive]: [], [p.pooled]: [] };
      const accepted: Record<string, number> = { [p.naive]: 0, [p.pooled]: 0 };
      const t0 = performance.now();
      for (let i = 0; i < 3 || performance.now() - t0 < input.size.pairMs; i++) {
        for (const name of i % 2 === 0 ? [p.naive, p.pooled] : [p.pooled, p.naive]) {
          const a0 = input.svc.accepted();
          const c0 = performance.now();
          await hydrate(input, name);
          t[name].push(performance.now() - c0);
          accepted[name] += input.svc.accepted() - a0;
        }
      }
      const calls = t[p.naive].length;
      ctx.log(`pair ${p.backend}: ${calls} interleaved calls each`);
      const naive = median(t[p.naive]);
      const pooled = median(t[p.pooled]);
      metrics.push(
        { name: `${p.backend}: pooled speed-up over a connection per lookup`, value: naive / pooled, unit: '×', note: `ratio of medians, ${calls} interleaved calls each` },
        { name: `${p.backend}: median ms per ${input.size.k} lookups`, value: naive, unit: 'ms', variant: p.naive },
        { name: `${p.backend}: median ms per ${input.size.k} lookups`, value: pooled, unit: 'ms', variant: p.pooled },
      );
      if (p.backend === 'http') {
        for (const name of [p.naive, p.pooled]) {
          metrics.push({ name: 'http: TCP connections the server accepted', value: accepted[name], unit: 'count', variant: name, note: `for ${calls * input.size.k} lookups` });
        }
      }
    }
    for (const [backend, why] of Object.entries(skipped)) {
      metrics.push({ name: `${backend}: skipped`, value: 0, unit: '', note: why });
    }
    return { metrics };
  },
});
