/**
 * Benchmark for 07-connection-pools: hydrate one query's top-10 hits (10 chunk lookups by id, all in flight at once)
 * from an HTTP chunk service, Redis and PostgreSQL, opening a connection per lookup (before.ts) or through a pool
 * (after.ts). Needs Redis (REDIS_URL) and PostgreSQL (DATABASE_URL) for those parts; without them only HTTP runs.
 *
 * Headline: the mean time of one hydration, each pooled variant against ITS OWN naive variant (`pairs`): an HTTP
 * pool against new HTTP connections, a shared Redis client against a Redis connection per GET, pg.Pool against a
 * new pg.Client per query. `extras` times each backend's stores interleaved (naive, pooled, naive, …) on the same
 * batches, and counts the connections each store opens for 3 hydrations, through a counting proxy. The tinybench
 * table times the same calls, variant by variant.
 *
 * With --impl exercise: the "exercise" row is the learner's HTTP store (paired with the naive HTTP store); the
 * learner's Redis and PostgreSQL stores are timed interleaved with that backend's stores (metrics "exercise: redis",
 * "exercise: pg"), and the connections of all three are counted like everyone's.
 *
 * Run: npm run t1 -- --only 07-connection-pools [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { defineLesson, EXERCISE, type Metric, type VariantFn } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { startChunkService, type ChunkService } from './chunk-service.ts';
import { startCountingProxy } from './counting-proxy.ts';
import { databaseUrl, dropPg, dropRedis, loadRecords, namespace, pgSkipReason, redisSkipReason, redisUrl, seedPg, seedRedis } from './services.ts';
import type { ChunkStore, StoreOptions } from './types.ts';

interface Size {
  /** Brown documents whose chunks are stored. */
  docs: number;
  /** Lookups per variant call (one query's hits). */
  k: number;
  /** Pool size for the HTTP and Postgres pools. */
  max: number;
  /** Hydrations per store whose connections extras count. */
  counted: number;
  /** Turns per store in the interleaved per-backend timing (the headline). */
  pairCalls: number;
}

type Backend = 'http' | 'redis' | 'pg';
type StoreModule = Pick<typeof after, 'httpStore' | 'redisStore' | 'pgStore'>;

interface Pair {
  backend: Backend;
  naive: string;
  pooled: string;
}

/** The headline metric: the mean time of one hydration, timed interleaved with the same backend's other stores. */
const TIME = 'time per hydration (10 lookups), interleaved per backend';

/** Most calls a store faster than the naive one makes in one turn of the headline timing. */
const MAX_PER_TURN = 8;

const PAIRS: Pair[] = [
  { backend: 'http', naive: 'http: new connection per request', pooled: 'http: keep-alive Pool' },
  { backend: 'redis', naive: 'redis: connect + QUIT per GET', pooled: 'redis: one client, auto-pipelined' },
  { backend: 'pg', naive: 'pg: new Client per query', pooled: 'pg: pg.Pool' },
];

/** Where the stores of each backend point. */
interface Targets {
  http: string;
  redis?: { url: string; prefix: string };
  pg?: { url: string; table: string };
}

interface Input {
  size: Size;
  batches: string[][];
  cursor: Record<string, number>;
  /** Stores by variant name; the learner's as `exercise` (HTTP, the row) and `exercise: <backend>`. */
  stores: Map<string, ChunkStore>;
  targets: Targets;
  opts: StoreOptions;
  exercise?: StoreModule;
  svc: ChunkService;
  redis?: { admin: Redis; prefix: string };
  pg?: { admin: pg.Client; schema: string };
}

// Probed when the module loads: the variants of an unreachable service are left out (with the reason printed), so
// the lesson still runs the parts it can.
const [redisSkip, pgSkip] = await Promise.all([redisSkipReason(), pgSkipReason()]);
const skipped: Partial<Record<Backend, string>> = { ...(redisSkip ? { redis: redisSkip } : {}), ...(pgSkip ? { pg: pgSkip } : {}) };
const active = PAIRS.filter((p) => !skipped[p.backend]);

/** A store of `backend` from `mod`, reaching its server at `url` (the real one, or a counting proxy's). */
function makeStore(mod: StoreModule, backend: Backend, t: Targets, opts: StoreOptions, url?: string): ChunkStore {
  if (backend === 'http') return mod.httpStore(url ?? t.http, opts);
  if (backend === 'redis') return mod.redisStore(url ?? t.redis!.url, t.redis!.prefix, opts);
  return mod.pgStore(url ?? t.pg!.url, t.pg!.table, opts);
}

const realUrl = (backend: Backend, t: Targets): string => (backend === 'http' ? t.http : backend === 'redis' ? t.redis!.url : t.pg!.url);

/** One call: fetch the next batch of k ids through `store`, all at once; throws if any record is missing. */
async function hydrate(input: Input, name: string, store = input.stores.get(name)!): Promise<number> {
  const i = input.cursor[name] ?? 0;
  input.cursor[name] = i + 1;
  const ids = input.batches[i % input.batches.length];
  const got = await Promise.all(ids.map((id) => store.get(id)));
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
    'service, Redis (JSON per key) and PostgreSQL (a temp table of Brown chunks); every variant returns the same ' +
    'records; each pooled store is compared with its own backend’s naive store',
  sizes: {
    quick: { docs: 40, k: 10, max: 10, counted: 3, pairCalls: 10 },
    full: { docs: 500, k: 10, max: 10, counted: 3, pairCalls: 40 },
  },
  setup: async (size, ctx) => {
    for (const [backend, why] of Object.entries(skipped)) ctx.log(`${backend} part skipped: ${why}`);
    const records = await loadRecords(size.docs);
    const rand = mulberry32(7);
    const batches = Array.from({ length: 64 }, () => Array.from({ length: size.k }, () => records[Math.floor(rand() * records.length)].id));
    const ns = namespace();
    const ex = ctx.exercise as StoreModule | undefined;
    const opts = { max: size.max, name: ns };
    const input: Partial<Input> = { size, batches, cursor: {}, stores: new Map(), opts, ...(ex ? { exercise: ex } : {}) };
    try {
      ctx.log(`${records.length} chunks; seeding ${active.map((p) => p.backend).join(', ')}`);
      input.svc = await startChunkService(records);
      const targets: Targets = { http: input.svc.url };
      if (!skipped.redis) {
        const prefix = `${ns}:chunk:`;
        input.redis = { admin: await seedRedis(redisUrl(), prefix, records), prefix };
        targets.redis = { url: redisUrl(), prefix };
      }
      if (!skipped.pg) {
        const { admin, table } = await seedPg(databaseUrl(), ns, records);
        input.pg = { admin, schema: ns };
        targets.pg = { url: databaseUrl(), table };
      }
      input.targets = targets;
      const stores = input.stores!;
      for (const p of active) {
        stores.set(p.naive, makeStore(before, p.backend, targets, opts));
        stores.set(p.pooled, makeStore(after, p.backend, targets, opts));
        // the learner's stores, built exactly like after.ts's: the HTTP one is the exercise row
        if (ex) stores.set(p.backend === 'http' ? EXERCISE : `${EXERCISE}: ${p.backend}`, makeStore(ex, p.backend, targets, opts));
      }
      return input as Input;
    } catch (err) {
      await release(input);
      throw err;
    }
  },
  teardown: (input) => release(input),
  baseline: PAIRS[0].naive,
  headline: { name: 'time per hydration (10 lookups by id)', unit: 'ms', better: 'lower', metric: TIME },
  // every pooled store against its own backend's naive store; each naive store is a baseline of its own
  pairs: {
    ...Object.fromEntries(PAIRS.flatMap((p) => [[p.pooled, p.naive], [p.naive, p.naive]])),
    [EXERCISE]: PAIRS[0].naive,
  },
  featured: PAIRS.map((p) => p.pooled),
  variants,
  exercise: (input) => hydrate(input, EXERCISE),
  // a naive Postgres call opens k connections (a server process each): keep its minimum sample count small
  options: { iterations: 5 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const { size, targets, opts } = input;
    const ex = input.exercise;

    // 1. Connections each store opens for `counted` hydrations, counted by a proxy between it and its server: a fresh
    //    store, so a pool's first connections count too.
    for (const p of active) {
      const who: Array<[string, StoreModule]> = [[p.naive, before], [p.pooled, after], ...(ex ? [[EXERCISE, ex] as [string, StoreModule]] : [])];
      for (const [name, mod] of who) {
        const proxy = await startCountingProxy(realUrl(p.backend, targets));
        const store = makeStore(mod, p.backend, targets, opts, proxy.url(realUrl(p.backend, targets)));
        try {
          for (let i = 0; i < size.counted; i++) await hydrate(input, `count ${name}`, store);
        } finally {
          await store.close();
          await proxy.close();
        }
        metrics.push({
          name: `${p.backend}: connections opened for ${size.counted} hydrations (${size.counted * size.k} lookups)`,
          value: proxy.opened(),
          unit: 'connections',
          variant: name,
          note: `most open at once: ${proxy.peak()}`,
        });
      }
    }

    // 2. The headline: each backend's stores take turns on the same batches (the learner's too, with --impl
    //    exercise), so every pooled store is timed beside its own naive store under the same conditions. A turn is
    //    one call, or for a store faster than the naive one, more calls (up to MAX_PER_TURN) for about as long as
    //    the naive call took: a fast store's mean gets as many samples as its noise needs, at little cost.
    for (const p of active) {
      const exName = p.backend === 'http' ? EXERCISE : `${EXERCISE}: ${p.backend}`;
      const names = [p.naive, p.pooled, ...(ex ? [exName] : [])];
      const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      let naiveMs = 0;
      for (let i = 0; i < size.pairCalls; i++) {
        for (let j = 0; j < names.length; j++) {
          const n = names[(i + j) % names.length];
          let spent = 0;
          for (let c = 0; c === 0 || (n !== p.naive && c < MAX_PER_TURN && spent < naiveMs); c++) {
            const t0 = performance.now();
            await hydrate(input, n);
            const dt = performance.now() - t0;
            ms[n].push(dt);
            spent += dt;
          }
          if (n === p.naive) naiveMs = spent;
        }
      }
      for (const n of names) {
        metrics.push(measured(TIME, 'ms', ms[n], { variant: n, note: `${ms[n].length} calls in ${size.pairCalls} turns, taken in turn with the other ${p.backend} stores` }));
      }
    }
    for (const [backend, why] of Object.entries(skipped)) {
      metrics.push({ name: `${backend} part`, value: 0, unit: 'variants run', note: why });
    }
    return { metrics };
  },
});
