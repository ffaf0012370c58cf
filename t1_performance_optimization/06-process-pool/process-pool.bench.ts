/**
 * Benchmark for 06-process-pool: the same BM25 query service as one process (before) and as a node:cluster of one
 * worker per core (after), both started as child processes, both loaded from this process on 127.0.0.1.
 * Run: npm run t1 -- --only 06-process-pool [--quick] [--impl exercise]
 *
 * Headline: requests per second under autocannon, the mean of repeated trials of a fixed number of requests,
 * interleaved across the servers (before, after, exercise; then after, exercise, before; ...).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { percentile } from '../../shared/util/stats.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { QUERIES } from './data.ts';
import { runLoad, type LoadSummary } from './load.ts';
import type { ServerHandle } from './spawn.ts';

interface Size {
  /** Brown documents indexed by every serving process. */
  docs: number;
  /** Requests per variant call (one batch, all in flight at once). */
  batch: number;
  /** Keep-alive connections, for the batch and for autocannon. */
  connections: number;
  /** Requests in one autocannon trial. */
  requests: number;
  /** autocannon trials per server, interleaved (before, after, exercise; after, exercise, before; ...). */
  trials: number;
  /** Requests of the warm-up each server gets before anything is measured. */
  warmup: number;
}

interface Server {
  name: string;
  handle: ServerHandle;
  pool: Pool;
  startMs: number;
}

interface Input {
  size: Size;
  servers: Server[];
  /** With --impl exercise: why the learner's server could not start, if it could not. */
  exerciseError?: string;
  paths: string[];
  cursor: Record<string, number>;
}

const K = 10;

/**
 * One call at a time. tinybench calls a variant once more, without awaiting it, when it is added (to learn whether
 * it is async), right before the timed calls: queued here, that batch cannot overlap the first timed one.
 */
let queue: Promise<unknown> = Promise.resolve();

function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const call = queue.then(fn);
  queue = call.catch(() => undefined);
  return call;
}

/** The started server called `name`, or an error saying why it is not there. */
function serverOf(input: Input, name: string): Server {
  const s = input.servers.find((x) => x.name === name);
  if (!s) throw new Error(name === EXERCISE && input.exerciseError ? `your server did not start: ${input.exerciseError}` : `no server ${name}`);
  return s;
}

/** One batch: `size.batch` GET /query requests at once over the server's keep-alive pool; throws on a non-200. */
async function batch(input: Input, server: Server): Promise<number> {
  let i = input.cursor[server.name] ?? 0;
  input.cursor[server.name] = i + input.size.batch;
  const calls: Promise<number>[] = [];
  for (let n = 0; n < input.size.batch; n++, i++) {
    const path = input.paths[i % input.paths.length];
    calls.push(
      server.pool.request({ method: 'GET', path }).then(async (res) => {
        const body = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${server.name}: ${path} answered ${res.statusCode}: ${body.slice(0, 200)}`);
        return body.length;
      }),
    );
  }
  const sizes = await Promise.all(calls);
  return sizes.reduce((a, b) => a + b, 0);
}

/** Resident memory of a process in bytes (Linux /proc), or NaN where that is not available. */
function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms), or NaN. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

interface CoreUse {
  server: number;
  client: number;
}

/**
 * Run a load and report how many cores the server's processes and this process (the load generator) used meanwhile:
 * CPU time over the time the load was applied (first request to last response).
 */
async function coresDuring(pids: number[], load: () => Promise<LoadSummary>): Promise<[LoadSummary, CoreUse]> {
  const s0 = pids.map(cpuMs);
  const c0 = process.cpuUsage();
  const out = await load();
  const c = process.cpuUsage(c0);
  const server = pids.map(cpuMs).reduce((a, x, i) => a + (x - s0[i]), 0);
  return [out, { server: server / out.ms, client: (c.user + c.system) / 1000 / out.ms }];
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(servers.map(async (s) => {
    await s.pool.close().catch(() => undefined);
    await s.handle.close();
  }));
}

const HEADLINE = 'autocannon throughput';

export default defineLesson<Size, Input>({
  id: 't1/06-process-pool',
  title: 'Process pool: one server process vs node:cluster workers',
  workload:
    'BM25 + extractive-answer queries over Brown chunks on 127.0.0.1; headline: autocannon trials of a fixed number ' +
    'of requests; a variant call = one batch of concurrent GET /query over keep-alive connections',
  sizes: {
    quick: { docs: 20, batch: 32, connections: 16, requests: 250, trials: 3, warmup: 100 },
    full: { docs: 500, batch: 64, connections: 32, requests: 4_000, trials: 5, warmup: 300 },
  },
  setup: async (size, ctx) => {
    const ex = ctx.exercise as typeof after | undefined;
    const mods: Array<[string, typeof after]> = [['before', before], ['after', after], ...(ex ? [[EXERCISE, ex] as [string, typeof after]] : [])];
    // all start at once (index builds in every serving process compete for the cores; the start-up metric says so)
    ctx.log(`starting ${mods.map(([n]) => n).join(', ')}: ${size.docs} Brown docs indexed per serving process`);
    const started = await Promise.allSettled(
      mods.map(async ([name, mod]): Promise<Server> => {
        const t0 = performance.now();
        const handle = await mod.start({ docs: size.docs });
        const startMs = performance.now() - t0;
        return { name, handle, startMs, pool: new Pool(handle.url, { connections: size.connections, pipelining: 1 }) };
      }),
    );
    const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.map((r, i) => [mods[i][0], r] as const).filter((x): x is [string, PromiseRejectedResult] => x[1].status === 'rejected');
    const ours = failed.find(([n]) => n !== EXERCISE);
    if (ours) {
      await closeAll(servers);
      throw ours[1].reason;
    }
    const exerciseError = failed.find(([n]) => n === EXERCISE)?.[1].reason as Error | undefined;
    const paths = QUERIES.map((q) => `/query?q=${encodeURIComponent(q)}&k=${K}`);
    const input: Input = { size, servers, paths, cursor: {}, ...(exerciseError ? { exerciseError: exerciseError.message.split('\n')[0] } : {}) };
    // warm every process (JIT, caches) and open the keep-alive connections before anything is timed
    for (const s of servers) {
      await runLoad({ url: s.handle.url, paths, connections: size.connections, seconds: 10, amount: size.warmup });
      await batch(input, s);
    }
    return input;
  },
  teardown: (input) => closeAll(input.servers),
  baseline: 'before',
  headline: { name: 'requests per second under autocannon', unit: 'req/s', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => serialized(() => batch(input, serverOf(input, 'before'))),
    after: (input) => serialized(() => batch(input, serverOf(input, 'after'))),
  },
  exercise: (input) => serialized(() => batch(input, serverOf(input, EXERCISE))),
  options: { iterations: 5, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const { size } = input;
    const runs = new Map<string, LoadSummary[]>();
    const cores = new Map<string, CoreUse[]>();
    for (let trial = 0; trial < size.trials; trial++) {
      const n = input.servers.length;
      const order = input.servers.map((_, i) => input.servers[(i + trial) % n]);
      ctx.log(`autocannon trial ${trial + 1}/${size.trials}: ${size.requests} requests over ${size.connections} connections to each of ${order.map((s) => s.name).join(', ')}`);
      for (const s of order) {
        const pids = [s.handle.pid, ...(await s.handle.workers()).filter((p) => p !== s.handle.pid)];
        const [r, c] = await coresDuring(pids, () =>
          runLoad({ url: s.handle.url, paths: input.paths, connections: size.connections, seconds: 60, amount: size.requests }),
        );
        runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
        cores.set(s.name, [...(cores.get(s.name) ?? []), c]);
      }
    }
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    for (const s of input.servers) {
      const rs = runs.get(s.name)!;
      const pids = await s.handle.workers();
      const rss = [s.handle.pid, ...pids.filter((p) => p !== s.handle.pid)].map(rssBytes).reduce((a, b) => a + b, 0);
      const latencies = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const v = { variant: s.name };
      const cs = cores.get(s.name)!;
      metrics.push(
        measured(HEADLINE, 'req/s', rs.map((r) => r.qps), { ...v, note: `${size.trials} trials of ${size.requests} requests, ${size.connections} connections` }),
        measured('autocannon p50 latency', 'ms', latencies, { ...v, stat: 'median' }),
        measured('autocannon p99 latency', 'ms', latencies, { ...v, stat: 'p99', note: 'every 2xx response of every trial' }),
        { name: 'non-2xx responses', value: rs.reduce((a, r) => a + r.non2xx, 0), unit: '', ...v },
        { name: 'connection errors + timeouts', value: rs.reduce((a, r) => a + r.errors + r.timeouts, 0), unit: '', ...v },
        { name: 'processes answering requests', value: pids.length, unit: '', ...v },
        measured('CPU cores the server processes got during the load', 'cores', cs.map((c) => c.server), { ...v, note: 'CPU time / time under load, from /proc' }),
        measured('CPU cores the load generator used', 'cores', cs.map((c) => c.client), v),
        { name: 'start-up time', value: s.startMs, unit: 'ms', ...v, note: 'spawn → every process listening; all servers started together' },
        { name: 'resident memory, all processes', value: rss, unit: 'bytes', ...v, note: 'one index copy per serving process' },
      );
      for (const p of [50, 90, 99]) points.push({ series: s.name, x: p, y: percentile(latencies, p), label: `p${p}` });
    }
    return {
      metrics,
      curves: [
        {
          id: 'latency-percentiles',
          title: `Latency under autocannon load (${size.connections} connections)`,
          xLabel: 'percentile',
          yLabel: 'ms',
          points,
        },
      ],
    };
  },
});
