/**
 * Benchmark for 06-process-pool: the same BM25 query service as one process (before) and as a node:cluster of one
 * worker per core (after), both started as child processes, both loaded from this process on 127.0.0.1.
 * Run: npm run t1 -- --only 06-process-pool [--quick]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
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
  /** autocannon seconds per variant and round. */
  seconds: number;
  /** autocannon rounds (single, cluster, single, cluster...). */
  rounds: number;
}

interface Server {
  name: 'before' | 'after';
  handle: ServerHandle;
  pool: Pool;
  startMs: number;
}

interface Input {
  size: Size;
  servers: Server[];
  paths: string[];
  cursor: Record<string, number>;
}

const K = 10;

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

/** Resident memory of a process in MB (Linux /proc), or NaN where that is not available. */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
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

/** Run `fn` and report how many cores the server's processes and this process (the load generator) used meanwhile. */
async function coresDuring<T>(pids: number[], fn: () => Promise<T>): Promise<[T, CoreUse]> {
  const s0 = pids.map(cpuMs);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const server = pids.map(cpuMs).reduce((a, x, i) => a + (x - s0[i]), 0);
  return [out, { server: server / wall, client: (c.user + c.system) / 1000 / wall }];
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(servers.map(async (s) => {
    await s.pool.close().catch(() => undefined);
    await s.handle.close();
  }));
}

export default defineLesson<Size, Input>({
  id: 't1/06-process-pool',
  title: 'Process pool: one server process vs node:cluster workers',
  workload:
    'BM25 + extractive-answer queries over Brown chunks on 127.0.0.1; a variant call = one batch of concurrent GET ' +
    '/query requests over keep-alive connections (per-request time = batch time / batch size); extras: autocannon',
  sizes: {
    quick: { docs: 50, batch: 32, connections: 16, seconds: 3, rounds: 1 },
    full: { docs: 500, batch: 64, connections: 32, seconds: 5, rounds: 2 },
  },
  setup: async (size, ctx) => {
    // both start at once (index builds in 1 + N processes compete for the cores; the start-up metric says so)
    ctx.log(`starting before (1 process) and after (cluster), ${size.docs} Brown docs indexed per serving process`);
    const started = await Promise.allSettled(
      ([['before', before], ['after', after]] as const).map(async ([name, mod]): Promise<Server> => {
        const t0 = performance.now();
        const handle = await mod.start({ docs: size.docs });
        const startMs = performance.now() - t0;
        return { name, handle, startMs, pool: new Pool(handle.url, { connections: size.connections, pipelining: 1 }) };
      }),
    );
    const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await closeAll(servers);
      throw failed.reason;
    }
    const paths = QUERIES.map((q) => `/query?q=${encodeURIComponent(q)}&k=${K}`);
    const input: Input = { size, servers, paths, cursor: {} };
    // warm every process (JIT, caches) and open the keep-alive connections before anything is timed
    for (const s of servers) {
      await runLoad({ url: s.handle.url, paths, connections: size.connections, seconds: 10, amount: 300 });
      await batch(input, s);
    }
    return input;
  },
  teardown: (input) => closeAll(input.servers),
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => batch(input, input.servers[0]),
    after: (input) => batch(input, input.servers[1]),
  },
  extras: async (input, ctx) => {
    const { size } = input;
    const runs = new Map<string, LoadSummary[]>();
    const cores = new Map<string, CoreUse[]>();
    for (let round = 0; round < size.rounds; round++) {
      const order = round % 2 === 0 ? input.servers : [...input.servers].reverse();
      for (const s of order) {
        ctx.log(`autocannon ${s.name}: ${size.connections} connections × ${size.seconds} s (round ${round + 1}/${size.rounds})`);
        const pids = [s.handle.pid, ...(await s.handle.workers()).filter((p) => p !== s.handle.pid)];
        const [r, c] = await coresDuring(pids, () =>
          runLoad({ url: s.handle.url, paths: input.paths, connections: size.connections, seconds: size.seconds }),
        );
        runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
        cores.set(s.name, [...(cores.get(s.name) ?? []), c]);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const qps: Record<string, number> = {};
    for (const s of input.servers) {
      const rs = runs.get(s.name)!;
      const pids = await s.handle.workers();
      qps[s.name] = mean(rs.map((r) => r.qps));
      const rss = [s.handle.pid, ...pids.filter((p) => p !== s.handle.pid)].map(rssMb).reduce((a, b) => a + b, 0);
      const v = s.name;
      metrics.push(
        { name: 'autocannon throughput', value: qps[v], unit: 'req/s', variant: v, note: `${size.connections} connections, ${size.rounds} × ${size.seconds} s` },
        { name: 'autocannon p50 latency', value: mean(rs.map((r) => r.p50)), unit: 'ms', variant: v },
        { name: 'autocannon p99 latency', value: mean(rs.map((r) => r.p99)), unit: 'ms', variant: v },
        { name: 'non-2xx responses', value: rs.reduce((a, r) => a + r.non2xx, 0), unit: 'count', variant: v },
        { name: 'connection errors + timeouts', value: rs.reduce((a, r) => a + r.errors, 0), unit: 'count', variant: v },
        { name: 'processes answering requests', value: pids.length, unit: 'count', variant: v },
        {
          name: 'CPU cores the server processes got during the load',
          value: mean(cores.get(v)!.map((c) => c.server)),
          unit: 'cores',
          variant: v,
          note: 'CPU time / wall time, from /proc',
        },
        { name: 'CPU cores the load generator used', value: mean(cores.get(v)!.map((c) => c.client)), unit: 'cores', variant: v },
        { name: 'start-up time', value: s.startMs, unit: 'ms', variant: v, note: 'spawn → every process listening; both servers started together' },
        { name: 'resident memory, all processes', value: rss, unit: 'MB', variant: v, note: 'one index copy per worker' },
      );
      for (const [p, key] of [[50, 'p50'], [90, 'p90'], [99, 'p99']] as const) {
        points.push({ series: v, x: p, y: mean(rs.map((r) => r[key])), label: key });
      }
    }
    metrics.push({
      name: 'autocannon throughput ratio after / before',
      value: qps.after / qps.before,
      unit: '×',
      note: 'the load generator runs in this process, on the same 2 cores as the servers',
    });
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
