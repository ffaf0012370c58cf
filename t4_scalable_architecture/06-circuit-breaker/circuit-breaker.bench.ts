/**
 * Benchmark for 06-circuit-breaker: a gateway-like caller sends a steady open-loop load (`rate` requests per second,
 * each due at its slot in the schedule) to one retriever shard, a separate process (shared/services/faulty-upstream.ts)
 * served over HTTP (shared/services/http-rpc.ts, a pooled undici client). The shard is healthy, then faulty for
 * `faultMs`, then healthy again. Two faults, each run through before (a timeout per call) and after (the same
 * timeout behind a circuit breaker), and the learner's exercise:
 *
 * - **slow**: every answer comes `slowLatencyMs` late (beyond the call's timeout): the latency-amplification case;
 * - **down**: the shard's port is closed (connection refused): calls fail at once either way; what differs is the
 *   traffic the dead shard gets and how soon it is back in use.
 *
 * Headline: the mean latency of the requests due during the slow fault (answered or failed: a fast failure is what
 * the gateway wants, it answers from the other shards), from each request's due time (no coordinated omission).
 * Beside it: the p99 (which the breaker cannot lower: the requests already in flight when the shard slows down, and
 * each half-open probe, still wait the whole timeout), how many requests waited the whole timeout, the calls sent to the shard during the fault, and the time to recover: from the moment the
 * shard is healthy again to the first request that succeeds. The tinybench table is one call to a healthy shard:
 * the breaker's own cost.
 *
 * Run: npm run t4 -- --only 06-circuit-breaker [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { startFaultyUpstream, type Fault, type FaultyUpstream } from '../../shared/services/faulty-upstream.ts';
import { httpRpcClient } from '../../shared/services/http-rpc.ts';
import type { CallOptions, RpcClient } from '../../shared/services/rpc.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;
type Guard = Mod['guardShard'];

interface Size {
  /** Requests per second, evenly spaced (open loop). */
  rate: number;
  healthyMs: number;
  faultMs: number;
  recoveredMs: number;
  /** How late every answer comes in the slow fault, ms (beyond timeoutMs). */
  slowLatencyMs: number;
  guard: after.GuardOptions;
  /** Kept-alive connections of the caller's pool. */
  connections: number;
}

interface Input {
  size: Size;
  shard: FaultyUpstream;
  guards: Record<string, Guard>;
  /** Long-lived healthy clients for the tinybench table. */
  idle: Record<string, RpcClient>;
}

const SCENARIOS: Array<{ id: 'slow' | 'down'; label: string; fault: (s: Size) => Fault }> = [
  { id: 'slow', label: 'slow shard', fault: (s) => ({ latencyMs: s.slowLatencyMs }) },
  { id: 'down', label: 'dead shard (connection refused)', fault: () => ({ mode: 'refuse' }) },
];

const HEADLINE = 'mean latency during a slow-shard fault';

type Phase = 'healthy' | 'fault' | 'recovered';

interface Req {
  phase: Phase;
  due: number;
  done: number;
  ok: boolean;
  code?: string;
}

interface RunResult {
  reqs: Req[];
  /** Calls the caller sent towards the shard, per phase (a refused connection counts: it was tried). */
  sent: Record<Phase, number>;
  /** Calls that reached the shard process during the fault. */
  arrivals: number;
  /** When the shard was healthy again (its ack), performance.now(). */
  recoveredAt: number;
}

/** Counts every call that leaves the caller towards the shard, by the phase it was sent in. */
function counting(client: RpcClient, phase: () => Phase, sent: Record<Phase, number>): RpcClient {
  return {
    target: client.target,
    call: <Res>(m: string, r: unknown, o?: CallOptions) => {
      sent[phase()]++;
      return client.call<Res>(m, r, o);
    },
    close: () => client.close(),
  };
}

async function run(input: Input, guard: Guard, fault: Fault): Promise<RunResult> {
  const { size, shard } = input;
  await shard.setFault({});
  let phase: Phase = 'healthy';
  const sent: Record<Phase, number> = { healthy: 0, fault: 0, recovered: 0 };
  const raw = httpRpcClient(shard.url, { connections: size.connections });
  const client = guard(counting(raw, () => phase, sent), size.guard);
  const reqs: Req[] = [];
  const pending: Promise<unknown>[] = [];
  const gap = 1000 / size.rate;
  const total = size.healthyMs + size.faultMs + size.recoveredMs;
  let arrivalsAtFault = 0;
  let arrivalsAtRecovery = 0;
  let recoveredAt = Infinity;
  let switching: Promise<void> = Promise.resolve();
  const t0 = performance.now();
  let next = 0;
  let i = 0;
  try {
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now() - t0;
        if (phase === 'healthy' && now >= size.healthyMs) {
          phase = 'fault';
          switching = switching.then(async () => {
            arrivalsAtFault = (await shard.stats()).arrivals;
            await shard.setFault(fault);
          });
        }
        if (phase === 'fault' && now >= size.healthyMs + size.faultMs) {
          phase = 'recovered';
          switching = switching.then(async () => {
            arrivalsAtRecovery = (await shard.stats()).arrivals;
            await shard.setFault({});
            recoveredAt = performance.now();
          });
        }
        while (next <= now && next < total) {
          const r: Req = { phase, due: t0 + next, done: 0, ok: false };
          reqs.push(r);
          pending.push(
            client.call('search', { q: `query ${i++}` }).then(
              () => {
                r.done = performance.now();
                r.ok = true;
              },
              (err: unknown) => {
                r.done = performance.now();
                r.code = (err as { code?: string }).code ?? 'ERROR';
              },
            ),
          );
          next += gap;
        }
        if (now >= total) resolve();
        else setTimeout(tick, Math.max(0, t0 + next - performance.now()));
      };
      tick();
    });
    await Promise.all(pending);
    await switching;
  } finally {
    await client.close();
  }
  return { reqs, sent, arrivals: arrivalsAtRecovery - arrivalsAtFault, recoveredAt };
}

export default defineLesson<Size, Input>({
  id: 't4/06-circuit-breaker',
  title: 'Circuit breaker: a slow or dead shard with and without a breaker (latency amplification, load on the shard, time to recover)',
  workload:
    'an open-loop load on one retriever shard (a separate process over HTTP, faults switched at run time): healthy, then slow (answers later than the timeout) or dead ' +
    '(connection refused), then healthy again; before: a timeout per call; after: the timeout behind a circuit breaker (cockatiel). Headline: mean latency of the requests due during ' +
    'the slow fault, from their due time. The timed call is one call to a healthy shard',
  sizes: {
    quick: {
      rate: 200,
      healthyMs: 400,
      faultMs: 1_500,
      recoveredMs: 1_000,
      slowLatencyMs: 2_000,
      guard: { timeoutMs: 250, consecutiveFailures: 5, halfOpenAfterMs: 500 },
      connections: 16,
    },
    full: {
      rate: 200,
      healthyMs: 2_000,
      faultMs: 8_000,
      recoveredMs: 4_000,
      slowLatencyMs: 2_000,
      guard: { timeoutMs: 250, consecutiveFailures: 5, halfOpenAfterMs: 1_000 },
      connections: 16,
    },
  },
  setup: async (size, ctx) => {
    const shard = await startFaultyUpstream({ name: 'shard-0' });
    ctx.log(`shard process ${shard.pid} on ${shard.url}`);
    const guards: Record<string, Guard> = { before: before.guardShard, after: after.guardShard };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) guards[EXERCISE] = ex.guardShard;
    const idle: Record<string, RpcClient> = {};
    for (const [name, g] of Object.entries(guards)) idle[name] = g(httpRpcClient(shard.url, { connections: 4 }), size.guard);
    return { size, shard, guards, idle };
  },
  teardown: async (input) => {
    for (const c of Object.values(input.idle)) await c.close();
    await input.shard.close();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'ms', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => input.idle.before.call('search', { q: 'one call' }),
    after: (input) => input.idle.after.call('search', { q: 'one call' }),
  },
  exercise: (input) => input.idle[EXERCISE].call('search', { q: 'one call' }),
  options: { iterations: 50, time: 100, warmupTime: 50 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const g = size.guard;
    const load = `${size.rate} req/s; healthy ${size.healthyMs / 1000} s, fault ${size.faultMs / 1000} s, healthy ${size.recoveredMs / 1000} s; timeout ${g.timeoutMs} ms`;
    const breaker = `breaker: ${g.consecutiveFailures} failures in a row, half-open after ${g.halfOpenAfterMs} ms`;
    for (const sc of SCENARIOS) {
      for (const [variant, guard] of Object.entries(input.guards)) {
        ctx.log(`${sc.label}: ${load}, through ${variant}`);
        let r: RunResult;
        try {
          r = await run(input, guard, sc.fault(size));
        } catch (err) {
          if (variant !== EXERCISE) throw err;
          ctx.log(`exercise: load failed: ${(err as Error).message}`);
          continue;
        }
        const v = { variant };
        const during = r.reqs.filter((q) => q.phase === 'fault');
        const lat = during.map((q) => q.done - q.due);
        const failed = during.filter((q) => !q.ok).length;
        const codes = [...new Set(during.filter((q) => !q.ok).map((q) => q.code))].join(', ');
        const afterRecovery = r.reqs.filter((q) => q.due >= r.recoveredAt);
        const firstOk = afterRecovery.find((q) => q.ok);
        const lost = afterRecovery.filter((q) => !q.ok).length;
        const healthy = r.reqs.filter((q) => q.phase === 'healthy').map((q) => q.done - q.due);
        const waitedOut = lat.filter((ms) => ms >= g.timeoutMs).length;
        const note = `${during.length} requests due during the fault (${failed} failed: ${codes || 'none'}); ${load}; ${breaker}`;
        metrics.push(
          sc.id === 'slow'
            ? measured(HEADLINE, 'ms', lat, { ...v, note })
            : measured('mean latency during a dead-shard fault', 'ms', lat, { ...v, note }),
          measured(`p99 during the ${sc.id} fault`, 'ms', lat, { ...v, stat: 'p99' }),
          { name: `requests that waited the whole timeout (${sc.id} fault)`, value: waitedOut, unit: 'requests', ...v, note: `answered ≥ ${g.timeoutMs} ms after they were due, of ${during.length}` },
          { name: `calls sent to the shard during the ${sc.id} fault`, value: r.sent.fault, unit: 'calls', ...v, note: `of ${during.length} requests; ${r.arrivals} reached the shard process` },
          {
            name: `time to recover after the ${sc.id} fault`,
            value: firstOk ? firstOk.done - r.recoveredAt : NaN,
            unit: 'ms',
            ...v,
            note: firstOk ? `from the shard healthy again to the first request that succeeded; ${lost} of ${afterRecovery.length} requests after that moment failed` : 'no request succeeded after recovery',
          },
          measured(`p99 while healthy (${sc.id} run)`, 'ms', healthy, { ...v, stat: 'p99' }),
        );
      }
    }
    return { metrics };
  },
});
