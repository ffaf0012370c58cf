/**
 * Checkpoint for 03-leak-detection. `npm run checkpoint -- 03-leak-detection` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts's server on the same engine.
 *
 * Behaviour: the same /search bodies as before.ts, a cache hit for a repeated query, 400s, /stats, and an update that
 * the next search sees. The lesson's point, after 300 warm-up and 1,500 unique queries against a server started with
 * a 1 MiB cache cap and a 256-operation op log: at most one 'update' listener, the cache within its cap, the op log
 * within its size, and the live heap (after a forced GC) grown by less than 4 MiB. before.ts grows by about 7 KB per
 * request there (11 MB), which the last test checks the measurement sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Engine } from '../../shared/engine.ts';
import type { Doc } from '../../shared/types.ts';
import * as reference from './before.ts';
import { heapGrowth, mb, MiB } from './heap.ts';
import type { QueryServer, ServerOptions } from './server-kit.ts';
import { drive, lessonEngine, uniqueQueries } from './workload.ts';

type Mod = typeof import('./after.ts');

const WARMUP = 300;
const RUN = 1_500;
const CACHE_CAP = 1 * MiB;
const OP_LOG = 256;
const HEAP_BOUND = 4 * MiB;

let engine: Engine;
let queries: string[];
let ref: QueryServer;
/** Each implementation gets its own slice of the unique queries: nobody's cache has seen them. */
let nextQuery = 0;
const take = (n: number) => {
  const out = queries.slice(nextQuery, nextQuery + n);
  nextQuery += n;
  return out;
};

beforeAll(async () => {
  const built = await lessonEngine(12);
  engine = built.engine;
  queries = uniqueQueries(built.corpus, 30_000, 17);
  ref = await reference.startServer(engine);
});
afterAll(async () => {
  await ref?.close();
});

async function get(url: string): Promise<{ status: number; cache: string | null; body: string }> {
  const res = await fetch(url);
  return { status: res.status, cache: res.headers.get('x-cache'), body: await res.text() };
}
const search = (s: QueryServer, q: string, k = 5) => get(`${s.url}/search?q=${encodeURIComponent(q)}&k=${k}`);

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const servers: QueryServer[] = [];
  const start = async (opts?: ServerOptions) => {
    const s = await impl.startServer(engine, opts);
    servers.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('answers /search with the same hits and answer as before.ts', async () => {
    const s = await start();
    for (const q of take(12)) {
      const [want, got] = [await search(ref, q), await search(s, q)];
      expect(got.status, `GET /search?q=${q}: ${got.body.slice(0, 200)}`).toBe(200);
      expect(JSON.parse(got.body), `GET /search?q=${q} differs from before.ts`).toEqual(JSON.parse(want.body));
    }
  });

  it('serves a repeated query from its cache (x-cache: hit), case and spacing aside, with the same body', async () => {
    const s = await start();
    const [q] = take(1);
    const first = await search(s, q);
    const again = await search(s, `  ${q.toUpperCase()} `);
    expect(first.cache).toBe('miss');
    expect(again.cache, 'the same query again (other case and spacing) was not served from the cache').toBe('hit');
    expect(again.body).toBe(first.body);
  });

  it('answers 400 naming the parameter for a missing q or a bad k', async () => {
    const s = await start();
    const noQ = await get(`${s.url}/search?k=5`);
    expect(noQ.status).toBe(400);
    expect(noQ.body).toMatch(/q:/);
    const badK = await get(`${s.url}/search?q=jury&k=0`);
    expect(badK.status).toBe(400);
    expect(badK.body).toMatch(/k:/);
  });

  it('/stats counts every request and lists the last 10 queries, oldest first', async () => {
    const s = await start();
    const qs = take(25);
    for (const q of qs) expect((await search(s, q)).status).toBe(200);
    const stats = JSON.parse((await get(`${s.url}/stats`)).body);
    expect(stats.requests).toBe(25);
    expect(stats.recent).toEqual(qs.slice(-10));
    expect(stats.p99Ms).toBeGreaterThan(0);
    expect(s.stats().requests).toBe(25);
  });

  it('a search after an update sees the new document (no stale cached answer)', async () => {
    const s = await start();
    const word = `zyx${name.replace(/[^a-z]/g, '')}quokka`;
    const q = `${word} marmalade`;
    const before = await search(s, q);
    expect((await search(s, q)).cache).toBe('hit');
    const doc: Doc = { id: `lesson03/${name}`, title: 'update test', text: `The ${word} ate marmalade. ${word} again, and marmalade.` };
    const res = await fetch(`${s.url}/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documents: [doc] }),
    });
    expect(res.status).toBe(200);
    const after = await search(s, q);
    const top = (JSON.parse(after.body) as { hits: Array<{ docId: string }> }).hits[0]?.docId;
    expect(
      top,
      `stale answer after an update: the search for "${q}" still returns what it returned before ${doc.id} was ingested ` +
        `(x-cache: ${after.cache}); an update must drop or outdate every cached answer`,
    ).toBe(doc.id);
    expect(after.body).not.toBe(before.body);
  });

  // The lesson's point: nothing the server keeps grows with the number of requests.
  describe.skipIf(name === 'before')(`after ${WARMUP} + ${RUN} unique queries`, () => {
    let s: QueryServer;
    let growth = 0;
    beforeAll(async () => {
      s = await start({ cacheBytes: CACHE_CAP, opLogSize: OP_LOG });
      await drive(s.url, take(WARMUP), 0, WARMUP);
      const run = take(RUN);
      growth = await heapGrowth(() => drive(s.url, run, 0, RUN));
    });

    it('has at most one listener on its events', () => {
      const n = s.events.listenerCount('update');
      expect(
        n,
        `${n} 'update' listeners on the server's events after ${WARMUP + RUN} requests (bound 1): a listener added per ` +
          `request stays subscribed, and keeps its closure, until the emitter is gone; one subscription can serve them all`,
      ).toBeLessThanOrEqual(1);
    });

    it(`keeps its results cache within the cap (${mb(CACHE_CAP)})`, () => {
      const { cacheBytes, cacheEntries } = s.stats();
      expect(
        cacheBytes,
        `the results cache holds ${mb(cacheBytes)} in ${cacheEntries} entries after ${WARMUP + RUN} unique queries, ` +
          `cap ${mb(CACHE_CAP)} (cacheBytes): a cache bounded by its number of entries still grows with the size of ` +
          `what it holds, and one never bounded grows with every new query`,
      ).toBeLessThanOrEqual(CACHE_CAP);
    });

    it(`keeps at most opLogSize (${OP_LOG}) operations in its op log`, () => {
      const { opLogEntries } = s.stats();
      expect(
        opLogEntries,
        `${opLogEntries} operations in the op log after ${WARMUP + RUN} requests (opLogSize ${OP_LOG}): /stats needs ` +
          `the last few, and a count`,
      ).toBeLessThanOrEqual(OP_LOG);
    });

    it(`grows its live heap by less than ${mb(HEAP_BOUND)} over ${RUN} more unique queries`, () => {
      expect(
        growth,
        `the live heap grew by ${mb(growth)} over ${RUN} unique queries, measured after a forced GC (bound ` +
          `${mb(HEAP_BOUND)}, with a cache cap of ${mb(CACHE_CAP)}): something keeps a part of every request`,
      ).toBeLessThan(HEAP_BOUND);
    });
  });

  it.runIf(name === 'before')(`leaks: its live heap grows by more than ${mb(HEAP_BOUND)} over ${RUN} unique queries (the measurement sees it)`, async () => {
    const s = await start({ cacheBytes: CACHE_CAP, opLogSize: OP_LOG });
    await drive(s.url, take(WARMUP), 0, WARMUP);
    const run = take(RUN);
    const growth = await heapGrowth(() => drive(s.url, run, 0, RUN));
    expect(growth, `before.ts grew by only ${mb(growth)}: the heap check could not tell a leak from a fix`).toBeGreaterThan(HEAP_BOUND);
    expect(s.events.listenerCount('update')).toBe(WARMUP + RUN);
  });
});
