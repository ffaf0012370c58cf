/**
 * Benchmark for 03-service-discovery: a steady load on one service whose instances are separate processes
 * (instance-process.ts), registered in a NATS KV bucket of the bench's own (shared/services/discovery.ts). Three
 * instances (a, b, c) serve from the start; during the load:
 *
 *   joinAt   instance d starts and registers              (how long until it receives a call?)
 *   leaveAt  instance b gets SIGTERM: its graceful stop    (failed requests during a graceful leave)
 *   killAt   instance c gets SIGKILL: kill -9              (failed requests while its entry lives out its TTL)
 *
 * through, in turn: before (a static list read at start), after (registry + heartbeats + watch + deregister-then-
 * drain + one retry elsewhere), and the learner's exercise with --impl exercise. The load: `workers` callers, each
 * a call then a `gapMs` pause; 1 call in 5 is a write (`append`), the rest reads (`search`, idempotent).
 *
 * Headline: failed requests during churn (from the leave to the end of the run). Beside it: failures per phase,
 * the kill window (from SIGKILL until a watcher drops the entry: the TTL at work), the time from d's registration
 * to its first call, the share of calls each instance answered, and the retries. The tinybench table is one call
 * through each client to two in-process instances: the balancer's own cost.
 *
 * Run: npm run t4 -- --only 03-service-discovery [--quick] [--impl exercise]
 */
import { fileURLToPath } from 'node:url';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { memoryBackend, natsKvBackend, Registry } from '../../shared/services/discovery.ts';
import { natsSkipReason } from '../../shared/services/nats-rpc.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { spawnInstance, type InstanceProcess } from './instance-process.ts';

type Mod = typeof after;

interface Size {
  ttlMs: number;
  heartbeatMs: number;
  drainGraceMs: number;
  workers: number;
  gapMs: number;
  joinAt: number;
  leaveAt: number;
  killAt: number;
  endAt: number;
}

interface Input {
  size: Size;
  impls: Record<string, { mod: Mod; file: string }>;
  /** In-process instances and clients for the tinybench table. */
  idle: Record<string, after.ServiceClient>;
  closeIdle: () => Promise<void>;
}

const HEADLINE = 'failed requests during churn';
const SERVICE = 'search';
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

interface Req {
  /** When the call started and ended, ms from the start of the load. */
  t: number;
  done: number;
  method: string;
  ok: boolean;
  id?: string;
}

interface RunResult {
  reqs: Req[];
  /** When d was asked to start (serve + register), and when its first call was answered (relative to t0). */
  dStartAt: number;
  dFirstAt?: number;
  killAt: number;
  /** When a watcher (sweep 25 ms) dropped c's entry, relative to t0. */
  cExpiredAt?: number;
  leaveAt: number;
  leaveDoneAt: number;
  /** The client's retries at the leave, the kill and the end (when it counts them). */
  retries?: [number, number, number];
}

async function run(size: Size, impl: { mod: Mod; file: string }, log: (s: string) => void): Promise<RunResult> {
  const bucket = `lab_discovery_${process.pid}_${Date.now()}`;
  const backend = await natsKvBackend({ bucket, maxAgeMs: 60_000 });
  const registry = new Registry(backend);
  const procs: InstanceProcess[] = [];
  try {
    const spec = { impl: impl.file, service: SERVICE, bucket, ttlMs: size.ttlMs, heartbeatMs: size.heartbeatMs, drainGraceMs: size.drainGraceMs };
    procs.push(...(await Promise.all(['a', 'b', 'c', 'd'].map((id) => spawnInstance({ ...spec, id })))));
    const [, b, c, d] = procs;
    await Promise.all(procs.slice(0, 3).map((p) => p.start()));
    const monitor = await registry.discover(SERVICE, { sweepMs: 25 });
    const client = await impl.mod.createClient(registry, SERVICE, { idempotent: ['search'], connections: 4 });
    const reqs: Req[] = [];
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    let cExpiredAt: number | undefined;
    monitor.onChange((_l, ch) => {
      if (ch.id === 'c' && ch.type === 'expire') cExpiredAt = now();
    });
    let running = true;
    const worker = async (k: number) => {
      for (let i = 0; running; i++) {
        const method = (i + k) % 5 === 4 ? 'append' : 'search';
        const t = now();
        try {
          const out = await client.call<{ id: string }>(method, { q: `${k}-${i}` }, { deadlineMs: 2_000 });
          reqs.push({ t, done: now(), method, ok: true, id: out.id });
        } catch {
          reqs.push({ t, done: now(), method, ok: false });
        }
        await new Promise((r) => setTimeout(r, size.gapMs));
      }
    };
    const workers = Array.from({ length: size.workers }, (_, k) => worker(k));
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - now())));
    await at(size.joinAt);
    const dStartAt = now();
    await d.start();
    await at(size.leaveAt);
    const retriesAtLeave = client.stats?.retries;
    const leaveAt = now();
    log(`SIGTERM to b (pid ${b.pid})`);
    await b.stop();
    const leaveDoneAt = now();
    await at(size.killAt);
    const retriesAtKill = client.stats?.retries;
    const killAt = now();
    log(`SIGKILL to c (pid ${c.pid})`);
    await c.kill();
    await at(size.endAt);
    running = false;
    await Promise.all(workers);
    const retries: RunResult['retries'] =
      client.stats && retriesAtLeave !== undefined && retriesAtKill !== undefined ? [retriesAtLeave, retriesAtKill, client.stats.retries] : undefined;
    await client.close();
    await monitor.close();
    const dFirst = reqs.filter((r) => r.id === 'd').sort((x, y) => x.done - y.done)[0];
    return { reqs, dStartAt, dFirstAt: dFirst?.done, killAt, cExpiredAt, leaveAt, leaveDoneAt, retries };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await backend.destroy().catch(() => {});
    await registry.close();
  }
}

export default defineLesson<Size, Input>({
  id: 't4/03-service-discovery',
  title: 'Service discovery: a static list vs a registry with TTL heartbeats, a watch, deregister-then-drain and one retry elsewhere',
  workload:
    'a steady load (reads and 1 in 5 writes) on a service of instance processes registered in NATS KV; one joins, one leaves (SIGTERM), one is killed (-9). ' +
    'before: a static list read at start; after: registry + heartbeats + watch + graceful deregistration + one retry on another instance. ' +
    'Headline: requests that failed from the leave to the end. The timed call is one read through the client to two in-process instances',
  sizes: {
    quick: { ttlMs: 1_000, heartbeatMs: 300, drainGraceMs: 100, workers: 4, gapMs: 10, joinAt: 800, leaveAt: 1_600, killAt: 2_400, endAt: 4_200 },
    full: { ttlMs: 3_000, heartbeatMs: 1_000, drainGraceMs: 200, workers: 8, gapMs: 10, joinAt: 2_000, leaveAt: 5_000, killAt: 8_000, endAt: 14_000 },
  },
  skip: async () => {
    const why = await natsSkipReason();
    return why ? `needs NATS with JetStream for the registry: ${why}` : undefined;
  },
  setup: async (_size, ctx) => {
    const impls: Input['impls'] = { before: { mod: before, file: here('./before.ts') }, after: { mod: after, file: here('./after.ts') } };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = { mod: ex, file: here('./exercise.ts') };
    const idle: Input['idle'] = {};
    const closers: Array<() => Promise<void>> = [];
    for (const [name, { mod }] of Object.entries(impls)) {
      const registry = new Registry(memoryBackend());
      const handler = async () => ({ id: name });
      const insts = [
        await mod.startInstance(registry, { service: SERVICE, id: 'x', handler, ttlMs: 60_000, heartbeatMs: 20_000 }),
        await mod.startInstance(registry, { service: SERVICE, id: 'y', handler, ttlMs: 60_000, heartbeatMs: 20_000 }),
      ];
      idle[name] = await mod.createClient(registry, SERVICE, { idempotent: ['search'], connections: 2 });
      closers.push(async () => {
        await idle[name].close();
        for (const i of insts) await i.stop();
        await registry.close();
      });
    }
    return { size: _size, impls, idle, closeIdle: async () => void (await Promise.all(closers.map((c) => c()))) };
  },
  teardown: (input) => input.closeIdle(),
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'requests', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => input.idle.before.call('search', { q: 'one call' }),
    after: (input) => input.idle.after.call('search', { q: 'one call' }),
  },
  exercise: (input) => input.idle[EXERCISE].call('search', { q: 'one call' }),
  options: { iterations: 50, time: 100, warmupTime: 50 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const load = `${size.workers} callers (a call, then ${size.gapMs} ms), 1 in 5 a write; TTL ${size.ttlMs} ms, heartbeat ${size.heartbeatMs} ms, drain grace ${size.drainGraceMs} ms`;
    for (const [variant, impl] of Object.entries(input.impls)) {
      ctx.log(`load through ${variant}: ${load}`);
      let r: RunResult;
      try {
        r = await run(size, impl, ctx.log);
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: run failed: ${(err as Error).message}`);
        continue;
      }
      const v = { variant };
      const inPhase = (from: number, to: number) => r.reqs.filter((q) => q.t >= from && q.t < to);
      const failed = (qs: Req[]) => qs.filter((q) => !q.ok);
      const leave = inPhase(r.leaveAt, r.killAt);
      const kill = inPhase(r.killAt, Infinity);
      const churnFailed = failed(leave).length + failed(kill).length;
      const killWrites = failed(kill).filter((q) => q.method === 'append').length;
      const windowMs = r.cExpiredAt !== undefined ? r.cExpiredAt - r.killAt : undefined;
      const inWindow = windowMs !== undefined ? inPhase(r.killAt, r.cExpiredAt!) : kill;
      metrics.push(
        measured(HEADLINE, 'requests', [churnFailed], {
          ...v,
          note: `${churnFailed} of ${leave.length + kill.length} requests from b's SIGTERM to the end; ${load}`,
        }),
        {
          name: 'failed during the graceful leave',
          value: failed(leave).length,
          unit: 'requests',
          ...v,
          note: `of ${leave.length}, from b's SIGTERM to c's kill (b's stop took ${(r.leaveDoneAt - r.leaveAt).toFixed(0)} ms)`,
        },
        {
          name: 'failed after the kill -9',
          value: failed(kill).length,
          unit: 'requests',
          ...v,
          note: `of ${kill.length} (${killWrites} of them writes), from c's SIGKILL to the end; ${failed(inWindow).length} of ${inWindow.length} inside the kill window`,
        },
      );
      if (windowMs !== undefined) {
        metrics.push({
          name: 'kill window (SIGKILL to the entry dropped)',
          value: windowMs,
          unit: 'ms',
          ...v,
          note: `TTL ${size.ttlMs} ms, heartbeat ${size.heartbeatMs} ms: between TTL − heartbeat and TTL + the watcher's 25 ms sweep`,
        });
      } else ctx.log(`${variant}: c's entry was never dropped (a static entry does not expire)`);
      if (r.dFirstAt !== undefined) {
        metrics.push({ name: 'time for a new instance to receive traffic', value: r.dFirstAt - r.dStartAt, unit: 'ms', ...v, note: 'from "start" sent to d (serve, register) to the first call d answered' });
      } else ctx.log(`${variant}: d registered and received no call in ${((size.endAt - size.joinAt) / 1000).toFixed(1)} s`);
      const total = r.reqs.filter((q) => q.ok).length;
      for (const id of ['a', 'b', 'c', 'd']) {
        const n = r.reqs.filter((q) => q.id === id).length;
        metrics.push({ name: `share of traffic on ${id}`, value: (100 * n) / Math.max(1, total), unit: '%', ...v, note: `${n} of ${total} answered calls` });
      }
      if (r.retries !== undefined) {
        const [atLeave, atKill, atEnd] = r.retries;
        metrics.push(
          { name: 'retries on another instance during the graceful leave', value: atKill - atLeave, unit: 'calls', ...v, note: `of ${leave.length} requests` },
          { name: 'retries on another instance after the kill -9', value: atEnd - atKill, unit: 'calls', ...v, note: `of ${kill.length} requests: calls picked for c while its entry lived out its TTL (connection refused), sent again` },
        );
      }
      ctx.log(`${variant}: ${churnFailed} failed during churn (leave ${failed(leave).length}, kill ${failed(kill).length}); kill window ${windowMs?.toFixed(0) ?? '—'} ms; d's first call ${r.dFirstAt !== undefined ? `${(r.dFirstAt - r.dStartAt).toFixed(0)} ms after its start` : 'never'}`);
    }
    return { metrics };
  },
});
