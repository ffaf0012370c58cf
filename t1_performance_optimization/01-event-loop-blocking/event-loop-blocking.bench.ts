/**
 * Benchmark for 01-event-loop-blocking: a server whose /search handler reads, parses, chunks and analyses n Brown
 * files, written blocking (before), in yielding slices (after), on a worker thread (worker), or as your exercise.ts
 * (--impl exercise). The headline is /healthz p99 while heavy /search requests run (probe.ts); the tinybench table
 * times one /search on an otherwise idle server, which this lesson does not set out to change.
 * Run: npm run t1 -- --only 01-event-loop-blocking [--quick] [--impl exercise]
 */
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { QUERIES } from './data.ts';
import { probeWhileBusy } from './probe.ts';
import type { RunningServer } from './server-kit.ts';
import { startWorkerServer } from './variants.ts';

const HEALTHZ_P99 = '/healthz p99 while /search runs';

interface Size {
  /** Brown files each /search request processes. */
  docs: number;
  /** Probe scenario: concurrent clients sending /search, each `rounds` times in a row. */
  heavy: number;
  rounds: number;
}

type Variant = 'before' | 'after' | 'worker' | 'exercise';

interface Input {
  size: Size;
  /** One server per variant; 'exercise' only with --impl exercise (your exercise.ts's startServer). */
  servers: Partial<Record<Variant, RunningServer>>;
  /** Why your exercise.ts's server could not start or answer (its row then shows this; the lesson still runs). */
  exerciseError?: string;
  cursor: Record<string, number>;
}

async function search(input: Input, variant: Variant): Promise<unknown> {
  if (variant === 'exercise' && input.exerciseError !== undefined) throw new Error(input.exerciseError);
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  const q = encodeURIComponent(QUERIES[i % QUERIES.length]);
  const res = await fetch(`${input.servers[variant]!.url}/search?q=${q}&docs=${input.size.docs}`);
  if (!res.ok) throw new Error(`${variant}: /search answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export default defineLesson<Size, Input>({
  id: 't1/01-event-loop-blocking',
  title: 'Event-loop blocking: a synchronous handler vs. yielding slices vs. a worker thread',
  workload:
    'GET /search on a node:http server (127.0.0.1): read n Brown files, parse, chunk, analyse and BM25-index them, return the top 5 for the query; ' +
    'meanwhile a prober on another thread sends GET /healthz every 2 ms',
  sizes: { quick: { docs: 10, heavy: 2, rounds: 4 }, full: { docs: 60, heavy: 4, rounds: 3 } },
  setup: async (size, ctx) => {
    const ex = ctx.exercise as typeof after | undefined;
    ctx.log(`starting the servers on 127.0.0.1 (before, after, worker${ex ? ', exercise' : ''})`);
    const servers: Input['servers'] = {};
    const input: Input = { size, servers, cursor: {} };
    try {
      servers.before = await before.startServer();
      servers.after = await after.startServer();
      servers.worker = await startWorkerServer();
      // first request of each: JIT, module loading in the worker
      for (const v of ['before', 'after', 'worker'] as const) await search(input, v);
    } catch (err) {
      await Promise.all(Object.values(servers).map((s) => s.close()));
      throw err;
    }
    if (ex) {
      try {
        servers.exercise = await ex.startServer();
        await search(input, 'exercise');
      } catch (err) {
        input.exerciseError = `exercise.ts: ${(err as Error).message}`;
        ctx.log(input.exerciseError);
      }
    }
    return input;
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.servers).map((s) => s.close()));
  },
  baseline: 'before',
  headline: { name: HEALTHZ_P99, unit: 'ms', better: 'lower', metric: HEALTHZ_P99 },
  variants: {
    before: (input) => search(input, 'before'),
    after: (input) => search(input, 'after'),
    worker: (input) => search(input, 'worker'),
  },
  exercise: (input) => search(input, 'exercise'),
  // The per-call table is not the headline: a few calls per variant keep the quick run short.
  options: { iterations: 2, time: 100 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const { heavy, rounds, docs } = input.size;
    for (const v of Object.keys(input.servers) as Variant[]) {
      if (v === 'exercise' && input.exerciseError !== undefined) continue;
      ctx.log(`probe: ${heavy} clients × ${rounds} /search (${docs} files each) + /healthz every 2 ms against ${v}`);
      let r: Awaited<ReturnType<typeof probeWhileBusy>>;
      try {
        r = await probeWhileBusy(input.servers[v]!.url, { heavy, rounds, docs, query: QUERIES[0] });
        if (r.latencies.length === 0) throw new Error(`no /healthz came back while /search ran (${r.errors} failed)`);
      } catch (err) {
        // your exercise failing under load is its row's news, not the lesson's failure
        if (v !== 'exercise') throw err;
        ctx.log(`exercise: probe failed: ${(err as Error).message}`);
        continue;
      }
      const sorted = [...r.latencies].sort((a, b) => a - b);
      metrics.push(
        measured(HEALTHZ_P99, 'ms', r.latencies, {
          variant: v,
          stat: 'p99',
          note: `${r.latencies.length} probes, median ${sorted[sorted.length >> 1].toFixed(1)} ms`,
        }),
        { name: '/healthz max while /search runs', value: sorted[sorted.length - 1], unit: 'ms', variant: v },
        { name: 'event-loop delay p99', value: r.loopP99Ms, unit: 'ms', variant: v, note: `max ${r.loopMaxMs.toFixed(0)} ms` },
        { name: `${heavy} clients × ${rounds} /search, wall time`, value: r.heavyWallMs, unit: 'ms', variant: v },
      );
      if (r.errors > 0) metrics.push({ name: '/healthz probes failed', value: r.errors, unit: 'probes', variant: v });
    }
    return { metrics };
  },
});
