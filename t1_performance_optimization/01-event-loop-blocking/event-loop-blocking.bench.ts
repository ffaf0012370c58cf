/**
 * Benchmark for 01-event-loop-blocking: one /search request that reads, parses, chunks and analyses n Brown files,
 * against a server whose handler blocks (before), yields every 5 ms (after) or uses a worker thread (worker). The
 * lesson's real figures are the extras: /healthz latency and event-loop delay while heavy requests run.
 * Run: npm run t1 -- --only 01-event-loop-blocking [--quick]
 */
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { QUERIES } from './data.ts';
import { probeWhileBusy } from './probe.ts';
import type { RunningServer } from './server-kit.ts';
import { startWorkerServer } from './variants.ts';

interface Size {
  /** Brown files each /search request processes. */
  docs: number;
  /** Probe scenario: concurrent clients sending /search, each `rounds` times in a row. */
  heavy: number;
  rounds: number;
}

interface Input {
  size: Size;
  servers: Record<'before' | 'after' | 'worker', RunningServer>;
  cursor: Record<string, number>;
}

async function search(input: Input, variant: 'before' | 'after' | 'worker'): Promise<unknown> {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  const q = encodeURIComponent(QUERIES[i % QUERIES.length]);
  const res = await fetch(`${input.servers[variant].url}/search?q=${q}&docs=${input.size.docs}`);
  if (!res.ok) throw new Error(`${variant}: /search answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export default defineLesson<Size, Input>({
  id: 't1/01-event-loop-blocking',
  title: 'Event-loop blocking: a synchronous handler vs. yielding slices vs. a worker thread',
  workload:
    'GET /search on a node:http server (127.0.0.1): read n Brown files, parse, chunk, analyse and BM25-index them, return the top 5 for the query',
  sizes: { quick: { docs: 15, heavy: 2, rounds: 3 }, full: { docs: 60, heavy: 4, rounds: 3 } },
  setup: async (size, ctx) => {
    ctx.log('starting three servers on 127.0.0.1 (before, after, worker)');
    const servers = {
      before: await before.startServer(),
      after: await after.startServer(),
      worker: await startWorkerServer(),
    };
    const input: Input = { size, servers, cursor: {} };
    // first request of each: JIT, module loading in the worker
    for (const v of ['before', 'after', 'worker'] as const) await search(input, v);
    return input;
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.servers).map((s) => s.close()));
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => search(input, 'before'),
    after: (input) => search(input, 'after'),
    worker: (input) => search(input, 'worker'),
  },
  options: { iterations: 5 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const v of ['before', 'after', 'worker'] as const) {
      const { heavy, rounds, docs } = input.size;
      ctx.log(`probe: ${heavy} clients × ${rounds} /search + /healthz every 2 ms against ${v}`);
      const r = await probeWhileBusy(input.servers[v].url, { heavy, rounds, docs, query: QUERIES[0] });
      metrics.push(
        { name: '/healthz p99 while busy', value: r.healthP99Ms, unit: 'ms', variant: v, note: `${r.probes} probes, p50 ${r.healthP50Ms.toFixed(1)} ms` },
        { name: '/healthz max while busy', value: r.healthMaxMs, unit: 'ms', variant: v },
        { name: 'event-loop delay p99', value: r.loopP99Ms, unit: 'ms', variant: v, note: `max ${r.loopMaxMs.toFixed(0)} ms` },
        { name: `${heavy} clients × ${rounds} /search, wall time`, value: r.heavyWallMs, unit: 'ms', variant: v },
      );
    }
    return { metrics };
  },
});
