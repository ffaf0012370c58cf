/**
 * Benchmark for 01-api-design: what a client pays for one page of results (20 hits, each with its document's title
 * and metadata and its first chunks), on a real server over loopback.
 *
 * Each variant gets its own store (Brown documents, every look-up taking `latencyMs`, as a store one hop away
 * would) behind its own results server (shared/services/results-api.ts on 127.0.0.1, an ephemeral port) and its own
 * keep-alive client. The headline is the mean time per page over a walk of the listing, the variants' pages
 * interleaved; beside it, the client's requests and the store's look-ups per page (counted), the CPU time a page
 * costs (client and server are one process, so it is both), and what a walk sees
 * while documents are written before the page boundary (rows shown twice, rows never shown).
 *
 * Run: npm run t4 -- --only 01-api-design [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { MemoryDocStore } from '../../shared/services/doc-store.ts';
import { ApiClient, createResultsServer, type ResultsServer } from '../../shared/services/results-api.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Impl = Pick<typeof after, 'createResolvers' | 'fetchPage'>;

interface Size {
  /** Brown documents in the store (of 500). */
  docs: number;
  /** Hits per page. */
  first: number;
  /** Each store look-up takes this long (ms). */
  latencyMs: number;
  /** Pages timed per variant for the headline (interleaved). */
  pages: number;
  /** Pages timed per variant through a client one simulated round trip away. */
  farPages: number;
}

/** The far client: this much added per round trip, over this many connections (a browser's per-host limit). */
const FAR = { addedRttMs: 10, connections: 6 };

interface Side {
  impl: Impl;
  store: MemoryDocStore;
  server: ResultsServer;
  client: ApiClient;
  /** Where the variant's walk is (the tinybench calls continue it). */
  after?: string;
}

interface Input {
  size: Size;
  docs: Doc[];
  sides: Map<string, Side>;
}

const TIME = 'time per page';

async function startSide(impl: Impl, docs: Doc[], size: Size): Promise<Side> {
  const store = MemoryDocStore.fromDocs(docs, { latencyMs: size.latencyMs });
  const server = await createResultsServer({ resolvers: impl.createResolvers(store) });
  return { impl, store, server, client: new ApiClient(server.url, { connections: 16 }) };
}

async function closeSide(s: Side): Promise<void> {
  await s.client.close();
  await s.server.close();
}

/** One page of the side's walk (from the start again after the last page); returns the rows shown. */
async function nextPage(side: Side, first: number): Promise<number> {
  const page = await side.impl.fetchPage(side.client, { first, after: side.after });
  side.after = page.hasNextPage ? (page.endCursor ?? undefined) : undefined;
  if (page.rows.length === 0) throw new Error('an empty page in the middle of the walk');
  return page.rows.length;
}

/** Walks the whole listing while `write` changes the store before each next page; counts rows seen twice and never. */
async function walkUnderWrites(
  impl: Impl,
  docs: Doc[],
  size: Size,
  kind: 'insert' | 'remove',
): Promise<{ repeated: number; skipped: number; pages: number }> {
  const side = await startSide(impl, docs, { ...size, latencyMs: 0 });
  try {
    const present = new Set(side.store.allIds());
    const seen = new Map<string, number>();
    const removed = new Set<string>();
    let after: string | undefined;
    let pages = 0;
    let inserted = 0;
    for (; pages < 1000; pages++) {
      const p = await impl.fetchPage(side.client, { first: size.first, after });
      for (const r of p.rows) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
      if (!p.hasNextPage) break;
      after = p.endCursor ?? undefined;
      const lastId = p.rows.at(-1)!.id;
      if (kind === 'insert') {
        // two new documents whose ids sort just before the last row seen
        side.store.put([0, 1].map((k) => ({ id: `${lastId.slice(0, -1)}!${inserted++}-${k}`, title: 'new', text: 'Written while a client was paging.' })));
      } else {
        const gone = p.rows.slice(0, 2).map((r) => r.id);
        side.store.remove(gone);
        for (const id of gone) removed.add(id);
      }
    }
    let repeated = 0;
    for (const [id, n] of seen) if (present.has(id) && n > 1) repeated += n - 1;
    const skipped = [...present].filter((id) => !seen.has(id) && !removed.has(id)).length;
    return { repeated, skipped, pages: pages + 1 };
  } finally {
    await closeSide(side);
  }
}

export default defineLesson<Size, Input>({
  id: 't4/01-api-design',
  title: 'API design: offset pages + a request per hit vs keyset cursors + one GraphQL query batched by DataLoader',
  workload:
    'one results page of 20 hits (each with its document’s title, metadata and first 3 chunks) from a results ' +
    'server on loopback over a store of Brown documents whose every look-up takes 1 ms; before: offset pages, the ' +
    'list then 2 requests per hit; after: a keyset cursor and one GraphQL query whose per-hit look-ups DataLoader batches',
  sizes: {
    quick: { docs: 120, first: 20, latencyMs: 1, pages: 30, farPages: 4 },
    full: { docs: 500, first: 20, latencyMs: 1, pages: 150, farPages: 20 },
  },
  setup: async (size, ctx) => {
    const docs = await loadBrown({ limit: size.docs });
    const sides = new Map<string, Side>();
    const input: Input = { size, docs, sides };
    try {
      sides.set('before', await startSide(before, docs, size));
      sides.set('after', await startSide(after, docs, size));
      const ex = ctx.exercise as Impl | undefined;
      if (ex) sides.set(EXERCISE, await startSide(ex, docs, size));
      ctx.log(`${docs.length} Brown documents, pages of ${size.first}, ${size.latencyMs} ms per store look-up`);
      // warm up: a walk of a few pages each (JIT, connections)
      for (const side of sides.values()) for (let i = 0; i < 5; i++) await nextPage(side, size.first);
      return input;
    } catch (err) {
      await Promise.allSettled([...sides.values()].map(closeSide));
      throw err;
    }
  },
  teardown: async (input) => {
    await Promise.allSettled([...input.sides.values()].map(closeSide));
  },
  baseline: 'before',
  headline: { name: 'time per page (20 hits, loopback)', unit: 'ms', better: 'lower', metric: TIME },
  variants: {
    before: (input) => nextPage(input.sides.get('before')!, input.size.first),
    after: (input) => nextPage(input.sides.get('after')!, input.size.first),
  },
  exercise: (input) => nextPage(input.sides.get(EXERCISE)!, input.size.first),
  options: { iterations: 10 },
  extras: async (input, ctx) => {
    const { size, docs, sides } = input;
    const metrics: Metric[] = [];
    const names = [...sides.keys()];
    const times = new Map<string, number[]>(names.map((n) => [n, []]));
    const trips = new Map<string, number[]>(names.map((n) => [n, []]));
    const lookups = new Map<string, number[]>(names.map((n) => [n, []]));
    const cpu = new Map<string, number[]>(names.map((n) => [n, []]));
    // the headline: pages timed one variant after the other, in turn, each continuing its own walk
    for (let i = 0; i < size.pages; i++) {
      for (const name of names) {
        const side = sides.get(name)!;
        side.client.roundTrips = 0;
        side.store.resetStats();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await nextPage(side, size.first);
        times.get(name)!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.get(name)!.push((c.user + c.system) / 1000);
        trips.get(name)!.push(side.client.roundTrips);
        lookups.get(name)!.push(side.store.stats.lookups);
      }
    }
    // the same pages from a client one (simulated) round trip away: what the requests per page cost on a network
    const far = new Map<string, number[]>(names.map((n) => [n, []]));
    const farSides = new Map(names.map((n) => [n, { ...sides.get(n)!, client: new ApiClient(sides.get(n)!.server.url, FAR), after: undefined }]));
    try {
      for (let i = 0; i < size.farPages; i++) {
        for (const name of names) {
          const t0 = performance.now();
          await nextPage(farSides.get(name)!, size.first);
          far.get(name)!.push(performance.now() - t0);
        }
      }
    } finally {
      await Promise.allSettled([...farSides.values()].map((s) => s.client.close()));
    }
    for (const name of names) {
      const impl = sides.get(name)!.impl;
      metrics.push(measured(TIME, 'ms', times.get(name)!, { variant: name, note: `mean of ${size.pages} pages of ${size.first}, interleaved; ${size.latencyMs} ms per store look-up` }));
      metrics.push(
        measured(`time per page, +${FAR.addedRttMs} ms per round trip`, 'ms', far.get(name)!, {
          variant: name,
          note: `mean of ${size.farPages} pages; the client waits ${FAR.addedRttMs} ms per request on one of ${FAR.connections} connections (a browser's per-host limit)`,
        }),
      );
      const t = trips.get(name)!;
      const l = lookups.get(name)!;
      metrics.push(measured('client requests per page', 'requests', t, { variant: name, note: `counted; range ${Math.min(...t)}–${Math.max(...t)}` }));
      metrics.push(measured('store look-ups per page', 'look-ups', l, { variant: name, note: `counted; range ${Math.min(...l)}–${Math.max(...l)}` }));
      metrics.push(measured('CPU per page (client + server)', 'ms', cpu.get(name)!, { variant: name, note: 'process CPU time (user + system) while the page was fetched: client, server and store share one process' }));
      const ins = await walkUnderWrites(impl, docs, size, 'insert');
      metrics.push({ name: 'rows shown twice, walk with inserts', value: ins.repeated, unit: 'rows', variant: name, note: `2 documents added before the boundary after each of ${ins.pages} pages` });
      const rem = await walkUnderWrites(impl, docs, size, 'remove');
      metrics.push({ name: 'rows never shown, walk with removals', value: rem.skipped, unit: 'rows', variant: name, note: `2 documents already shown removed after each of ${rem.pages} pages` });
      const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2);
      ctx.log(`${name}: ${mean(times.get(name)!)} ms/page (${mean(far.get(name)!)} ms at +${FAR.addedRttMs} ms per round trip), ${t[0]} requests, ${l[0]} look-ups; walk: ${ins.repeated} shown twice, ${rem.skipped} never shown`);
    }
    return { metrics };
  },
});
