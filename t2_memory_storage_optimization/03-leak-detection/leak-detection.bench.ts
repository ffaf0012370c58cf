/**
 * Benchmark for 03-leak-detection: a fastify query server over the engine (createEngine, Brown documents) that keeps
 * everything per request (before), every structure bounded (after), or your exercise.ts (--impl exercise). The
 * headline is the live heap's growth per 10,000 requests of unique queries, measured after a forced GC around each
 * trial, once the server is warm; the counts after the run (listeners, cache entries, op-log entries) say where it
 * went. The per-call table times one /search of a new query, which this lesson does not set out to change.
 * Run: npm run t2 -- --only 03-leak-detection [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Engine } from '../../shared/engine.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { heapGrowth, MiB } from './heap.ts';
import type { QueryServer } from './server-kit.ts';
import { drive, lessonEngine, uniqueQueries } from './workload.ts';

const HEADLINE = 'heap growth per 10k requests';

interface Size {
  /** Brown documents in the engine. */
  docs: number;
  /** Requests before the first trial (fills the bounded caches). */
  warmup: number;
  /** Requests per trial, and trials per variant. */
  perTrial: number;
  trials: number;
  /** The servers' results-cache cap. */
  cacheBytes: number;
}

interface Input {
  size: Size;
  engine: Engine;
  queries: string[];
  /** One shared cursor: no server ever sees a query twice. */
  cursor: number;
  servers: Partial<Record<string, QueryServer>>;
  exerciseError?: string;
}

function nextQuery(input: Input): string {
  return input.queries[input.cursor++ % input.queries.length];
}

async function oneSearch(input: Input, variant: string): Promise<void> {
  const s = input.servers[variant];
  if (!s) throw new Error(input.exerciseError ?? `${variant}: no server`);
  const res = await fetch(`${s.url}/search?q=${encodeURIComponent(nextQuery(input))}&k=5`);
  if (res.status !== 200) throw new Error(`${variant}: /search answered ${res.status}`);
  await res.arrayBuffer();
}

export default defineLesson<Size, Input>({
  id: 't2/03-leak-detection',
  title: 'Leak detection: a server that keeps something per request vs. bounded structures',
  workload:
    'GET /search of unique queries (2–5 words drawn from the corpus) on a fastify server over createEngine() with n Brown ' +
    'documents; live heap after a forced GC before and after each trial, scaled to 10,000 requests',
  sizes: {
    quick: { docs: 6, warmup: 100, perTrial: 120, trials: 3, cacheBytes: MiB / 2 },
    full: { docs: 40, warmup: 1_000, perTrial: 2_000, trials: 4, cacheBytes: 4 * MiB },
  },
  setup: async (size, ctx) => {
    const { engine, corpus } = await lessonEngine(size.docs, ctx.log);
    const ex = ctx.exercise as typeof after | undefined;
    const variants = (['before', 'after', ...(ex ? [EXERCISE] : [])] as string[]).length;
    const queries = uniqueQueries(corpus, variants * (size.warmup + size.trials * size.perTrial + 200), 3);
    const input: Input = { size, engine, queries, cursor: 0, servers: {} };
    const opts = { cacheBytes: size.cacheBytes };
    input.servers.before = await before.startServer(engine, opts);
    input.servers.after = await after.startServer(engine, opts);
    if (ex) {
      try {
        input.servers[EXERCISE] = await ex.startServer(engine, opts);
      } catch (err) {
        input.exerciseError = `exercise.ts: ${(err as Error).message}`;
        ctx.log(input.exerciseError);
      }
    }
    return input;
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.servers).map((s) => s!.close()));
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => oneSearch(input, 'before'),
    after: (input) => oneSearch(input, 'after'),
  },
  exercise: (input) => oneSearch(input, EXERCISE),
  // the per-call table is not the headline: a few calls per variant keep the quick run short
  options: { iterations: 3, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const { warmup, perTrial, trials } = input.size;
    const names = Object.keys(input.servers);
    for (const v of names) {
      ctx.log(`${v}: warm-up, ${warmup} unique queries`);
      await drive(input.servers[v]!.url, input.queries, input.cursor, warmup);
      input.cursor += warmup;
    }
    /** Live-heap change per trial, scaled to 10k requests, as measured (a flat heap gives small values of either sign). */
    const growth: Record<string, number[]> = {};
    // trials interleaved across servers, so a slow spell of the machine does not land on one of them
    for (let t = 0; t < trials; t++) {
      for (const v of names) {
        ctx.log(`${v}: trial ${t + 1}/${trials}, ${perTrial} unique queries between two forced GCs`);
        const from = input.cursor;
        input.cursor += perTrial;
        try {
          const bytes = await heapGrowth(() => drive(input.servers[v]!.url, input.queries, from, perTrial));
          (growth[v] ??= []).push((bytes * 10_000) / perTrial);
        } catch (err) {
          if (v !== EXERCISE) throw err;
          ctx.log(`exercise: ${(err as Error).message}`);
        }
      }
    }
    const metrics: Metric[] = [];
    for (const v of names) {
      if (!growth[v]) continue;
      const s = input.servers[v]!;
      const st = s.stats();
      metrics.push(
        // growth is never below zero: a trial after which the live heap is smaller did not grow it (this errs on the
        // side of a flat heap looking slightly worse, never better); the raw changes follow as their own figure
        measured(HEADLINE, 'bytes', growth[v].map((b) => Math.max(0, b)), {
          variant: v,
          note: `${trials} trials of ${perTrial}, after ${warmup} warm-up; live heap after a forced GC, a shrink counted as 0`,
        }),
        measured('live-heap change per 10k requests, signed', 'bytes', growth[v], { variant: v, note: 'the same trials, a shrink negative' }),
        { name: "'update' listeners after the run", value: s.events.listenerCount('update'), unit: 'listeners', variant: v, note: `${st.requests} requests served` },
        { name: 'results-cache entries after the run', value: st.cacheEntries, unit: 'entries', variant: v },
        { name: 'results-cache bytes after the run', value: st.cacheBytes, unit: 'bytes', variant: v, note: `cap ${(input.size.cacheBytes / MiB).toFixed(1)} MiB (after, exercise)` },
        { name: 'op-log entries after the run', value: st.opLogEntries, unit: 'entries', variant: v },
      );
    }
    return { metrics };
  },
});
