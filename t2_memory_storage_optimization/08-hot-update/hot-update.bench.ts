/**
 * Benchmark for 08-hot-update: a query service (Fastify, backed by the engine) moves from one version of the corpus
 * to the next while a client sends it queries at a steady rate; before.ts stops, rebuilds and restarts, after.ts
 * builds the new index beside the live one and swaps it in.
 * Run: npm run t2 -- --only 08-hot-update [--quick] [--impl exercise]
 *
 * Every call of a variant is one update of that variant's running service under load, alternately A → B and B → A:
 * 100 ms of load before the update (50 in quick mode), the update, as long again after. Every response is checked against what the version it
 * names answers (load.ts). The headline is the failed requests per update; the p99 latency of the requests due
 * during the update is the second figure.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { expectedAnswers, frozenEmbedder, loadVersions, queriesFor, type Versions } from './data.ts';
import { OpenLoad, tally, type Expected } from './load.ts';
import type { HotService } from './service.ts';

type Mod = typeof after;

interface Size {
  /** Brown documents in version A (B drops a fifth, changes a third of the rest, adds a quarter as many). */
  docs: number;
  /**
   * Queries per second sent by the client, at most: lowered in setup to 40% of what the service answers one after
   * another on this machine, so the load is steady, not a saturation test (the rate used is in every figure's note).
   */
  rate: number;
  /** Milliseconds of load before and after each update. */
  aroundMs: number;
}

interface Calls {
  failed: number[];
  /** Requests due during the update. */
  requests: number[];
  mixed: number[];
  /** Latencies of the successful requests due during the update, pooled over calls. */
  latencies: number[];
  /** Requests due during the update and answered before it finished. */
  answered: number[];
  updateMs: number[];
  heapGrowth: number[];
}

interface Runner {
  service: HotService;
  /** The version the service serves now. */
  at: 'A' | 'B';
  calls: Calls;
}

interface Input {
  size: Size;
  /** Queries per second actually sent (see Size.rate). */
  rate: number;
  versions: Versions;
  queries: string[];
  expected: Expected;
  chunks: Record<'A' | 'B', number>;
  runners: Record<string, Runner>;
}

const HEADLINE = 'failed requests per update';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** One update of the variant's service to the other version, under load. */
async function step(input: Input, name: string): Promise<void> {
  const r = input.runners[name];
  const to = r.at === 'A' ? 'B' : 'A';
  const docs: Doc[] = to === 'A' ? input.versions.a : input.versions.b;
  gc();
  const load = new OpenLoad({ url: r.service.url, queries: input.queries, rate: input.rate }).start();
  await sleep(input.size.aroundMs);
  const heap0 = process.memoryUsage().heapUsed;
  let heapPeak = heap0;
  const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 5);
  const t0 = performance.now();
  try {
    await r.service.update(docs, to);
  } finally {
    clearInterval(sampler);
  }
  const t1 = performance.now();
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  await sleep(input.size.aroundMs);
  const outcomes = await load.stop();
  r.at = to;
  const all = tally(outcomes, input.expected);
  const during = tally(outcomes, input.expected, t0, t1);
  const c = r.calls;
  c.failed.push(all.failed);
  c.requests.push(during.requests);
  c.mixed.push(all.mixed);
  for (const l of during.latencies) c.latencies.push(l);
  c.answered.push(outcomes.filter((o) => o.ok && o.due >= t0 && o.done <= t1).length);
  c.updateMs.push(t1 - t0);
  c.heapGrowth.push(heapPeak - heap0);
}

/** The load rate: `max` queries/s, or 40% of the service's one-at-a-time capacity here if that is lower. */
async function calibrate(url: string, queries: readonly string[], max: number): Promise<number> {
  const load = new OpenLoad({ url, queries, rate: 1 }); // only its request path: one query at a time
  const n = 48;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await load.once(queries[i % queries.length]);
  const capacity = (n * 1000) / (performance.now() - t0);
  await load.stop();
  return Math.max(10, Math.min(max, Math.floor(capacity * 0.4)));
}

const emptyCalls = (): Calls => ({ failed: [], requests: [], mixed: [], latencies: [], answered: [], updateMs: [], heapGrowth: [] });

export default defineLesson<Size, Input>({
  id: 't2/08-hot-update',
  title: 'Hot update: stop, rebuild, restart vs build beside and swap',
  workload:
    'a Fastify query service (engine: BM25 + exact dense, hybrid) updated from one version of the Brown corpus to ' +
    'the next (a fifth of the documents removed, a third of the rest changed, a quarter as many added) while a ' +
    'client sends hybrid queries at a steady rate; every response checked against its version',
  sizes: { quick: { docs: 12, rate: 200, aroundMs: 50 }, full: { docs: 400, rate: 200, aroundMs: 100 } },
  // one update per call; the runner's two warm-up calls are updates under load too, and are counted
  options: { rounds: 1, iterations: 1, time: 0, warmupTime: 0 },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents (version A) and the next version B`);
    const versions = await loadVersions(size.docs);
    const embedder = await frozenEmbedder(versions.a, ctx.log);
    const queries = queriesFor(versions, 32);
    ctx.log('building both versions once, for the answers every response is checked against');
    const expected = await expectedAnswers({ A: versions.a, B: versions.b }, queries, { embedder });
    const runners: Record<string, Runner> = {};
    const mods: Array<[string, Mod]> = [['before', before], ['after', after]];
    const ex = ctx.exercise as Mod | undefined;
    if (ex) mods.push(['exercise', ex]);
    for (const [name, mod] of mods) {
      ctx.log(`starting ${name}'s service on version A`);
      runners[name] = { service: await mod.startService(versions.a, 'A', { embedder }), at: 'A', calls: emptyCalls() };
    }
    const count = (docs: Doc[]) => docs.reduce((n, d) => n + chunkDocument(d).length, 0);
    const rate = await calibrate(runners.after.service.url, queries, size.rate);
    ctx.log(`load: ${rate} queries/s (at most ${size.rate}, 40% of this machine's one-at-a-time capacity)`);
    return { size, rate, versions, queries, expected, chunks: { A: count(versions.a), B: count(versions.b) }, runners };
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.runners).map((r) => r.service.close()));
  },
  baseline: 'before',
  headline: { name: 'failed requests during an update', unit: 'requests', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => step(input, 'before'),
    after: (input) => step(input, 'after'),
  },
  exercise: (input) => step(input, 'exercise'),
  extras: (input) => {
    const metrics: Metric[] = [];
    for (const [name, r] of Object.entries(input.runners)) {
      const c = r.calls;
      if (c.failed.length === 0) continue; // the variant failed (an unfinished exercise): its row says why
      const v = { variant: name };
      const n = c.failed.length;
      metrics.push(
        measured(HEADLINE, 'requests', c.failed, { ...v, note: `every update (${n}), ${input.rate} requests/s` }),
        measured('requests due during the update', 'requests', c.requests, { ...v, note: `every update (${n})` }),
        measured('responses mixing the two versions', 'responses', c.mixed, { ...v, note: 'hits not those of the version named' }),
        measured('requests answered before the update finished', 'requests', c.answered, { ...v, note: 'of those due during it: queries kept flowing' }),
        measured('time to update', 'ms', c.updateMs, { ...v, note: `every update (${n}), from the call to the new version serving` }),
        measured('peak heap growth during the update', 'bytes', c.heapGrowth, { ...v, note: 'heapUsed sampled every 5 ms, not collected first' }),
      );
      if (c.latencies.length > 0) {
        metrics.push(
          measured('p99 latency during the update', 'ms', c.latencies, {
            ...v,
            stat: 'p99',
            note: `${c.latencies.length} successful requests due during the updates, from when each was due`,
          }),
        );
      }
    }
    metrics.push({ name: 'chunks per version', value: input.chunks.A, unit: 'chunks', note: `A ${input.chunks.A}, B ${input.chunks.B}` });
    return { metrics };
  },
});
