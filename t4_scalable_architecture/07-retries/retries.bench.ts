/**
 * Benchmark for 07-retries: a gateway-like caller sends a steady open-loop load (`rate` requests per second, each
 * with a deadline) to one retriever shard, a separate process (shared/services/faulty-upstream.ts) over HTTP
 * (shared/services/http-rpc.ts). The shard is healthy, then down for `outageMs` (every call answered 503
 * UNAVAILABLE at once), then back with blips (`flakyRate` of its calls fail). Through, in turn:
 *
 * - before: up to `maxAttempts` attempts, immediately, on any error;
 * - backoff, no budget: exponential backoff with full jitter, retryable errors only, within the deadline;
 * - after: the same plus a retry budget (`budgetRatio` tokens per request, `budgetReserve` to start with);
 * - the learner's exercise, with --impl exercise.
 *
 * Headline: the load multiplier during the outage: calls that reached the shard ÷ requests the caller was sent,
 * one figure per `windowMs` window of the outage (the spread is over windows). Beside it: the success rate once the
 * shard is back (blips retried?), the mean time a request takes to fail during the outage (backoff's cost), and the
 * retries the budget refused. The tinybench table is one call to a healthy shard: the policy's own cost.
 *
 * Run: npm run t4 -- --only 07-retries [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { startFaultyUpstream, type FaultyUpstream } from '../../shared/services/faulty-upstream.ts';
import { httpRpcClient } from '../../shared/services/http-rpc.ts';
import { withRetry, type RetryCounts } from '../../shared/services/resilience.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;
type Create = Mod['createCaller'];

interface Size {
  rate: number;
  healthyMs: number;
  outageMs: number;
  recoveredMs: number;
  /** The outage's multiplier is sampled once per window, ms. */
  windowMs: number;
  /** Share of calls that fail once the shard is back (blips). */
  flakyRate: number;
  /** Each request's deadline, ms. */
  deadlineMs: number;
  policy: after.RetryPolicyOptions;
  connections: number;
}

interface Input {
  size: Size;
  shard: FaultyUpstream;
  creators: Record<string, Create>;
  idle: Record<string, RpcClient>;
}

const HEADLINE = 'load multiplier during the outage';

/** A variant between before and after: backoff with full jitter, no budget (wrong/no-budget.ts's idea). */
const backoffOnly: Create = (upstream, o) => withRetry(upstream, { maxAttempts: o.maxAttempts, backoff: { baseMs: o.baseDelayMs, maxMs: o.maxDelayMs } });

type Phase = 'healthy' | 'outage' | 'recovered';

interface Req {
  phase: Phase;
  due: number;
  done: number;
  ok: boolean;
}

interface RunResult {
  reqs: Req[];
  /** [arrivals at the shard, requests sent] at each window boundary of the outage. */
  marks: Array<[number, number]>;
  counts?: RetryCounts;
}

async function run(input: Input, create: Create): Promise<RunResult> {
  const { size, shard } = input;
  await shard.setFault({});
  const raw = httpRpcClient(shard.url, { connections: size.connections });
  const caller = create(raw, size.policy);
  let phase: Phase = 'healthy';
  const reqs: Req[] = [];
  const pending: Promise<unknown>[] = [];
  const marks: Array<[number, number]> = [];
  const gap = 1000 / size.rate;
  const outageEnd = size.healthyMs + size.outageMs;
  const total = outageEnd + size.recoveredMs;
  let control: Promise<void> = Promise.resolve();
  /** Queue a call to the shard's control channel; `sentNow` is the request count at the moment it is queued. */
  const mark = (then?: () => Promise<void>) => {
    const sentNow = reqs.length;
    control = control.then(async () => {
      marks.push([(await shard.stats()).arrivals, sentNow]);
      await then?.();
    });
  };
  const t0 = performance.now();
  let next = 0;
  let nextMark = size.healthyMs + size.windowMs;
  let i = 0;
  try {
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now() - t0;
        if (phase === 'healthy' && now >= size.healthyMs) {
          phase = 'outage';
          control = control.then(() => shard.setFault({ errorRate: 1 }));
          mark();
        }
        while (phase === 'outage' && nextMark <= now && nextMark < outageEnd) {
          mark();
          nextMark += size.windowMs;
        }
        if (phase === 'outage' && now >= outageEnd) {
          phase = 'recovered';
          mark(() => shard.setFault({ errorRate: size.flakyRate }));
        }
        while (next <= now && next < total) {
          const r: Req = { phase, due: t0 + next, done: 0, ok: false };
          reqs.push(r);
          pending.push(
            caller.call('search', { q: `query ${i++}` }, { deadlineMs: size.deadlineMs }).then(
              () => {
                r.done = performance.now();
                r.ok = true;
              },
              () => {
                r.done = performance.now();
              },
            ),
          );
          next += gap;
        }
        if (now >= total) resolve();
        else setTimeout(tick, Math.max(0, Math.min(t0 + next, phase === 'outage' ? t0 + nextMark : Infinity) - performance.now()));
      };
      tick();
    });
    await Promise.all(pending);
    await control;
  } finally {
    await caller.close();
  }
  const counts = (caller as { counts?: RetryCounts }).counts;
  return { reqs, marks, ...(counts ? { counts: { ...counts } } : {}) };
}

export default defineLesson<Size, Input>({
  id: 't4/07-retries',
  title: 'Retries: immediate retries vs exponential backoff with full jitter and a retry budget (the retry storm, measured)',
  workload:
    'an open-loop load on one retriever shard (a separate process over HTTP): healthy, then down (every call 503), then back with blips; ' +
    'before: up to N attempts at once; after: backoff with full jitter + a retry budget. Headline: calls that reached the shard per request during the outage ' +
    '(one figure per window). The timed call is one call to a healthy shard',
  sizes: {
    quick: {
      rate: 200,
      healthyMs: 500,
      outageMs: 2_000,
      recoveredMs: 1_500,
      windowMs: 250,
      flakyRate: 0.05,
      deadlineMs: 1_000,
      policy: { maxAttempts: 4, baseDelayMs: 25, maxDelayMs: 1_000, budgetRatio: 0.1, budgetReserve: 10 },
      connections: 16,
    },
    full: {
      rate: 200,
      healthyMs: 2_000,
      outageMs: 10_000,
      recoveredMs: 5_000,
      windowMs: 500,
      flakyRate: 0.05,
      deadlineMs: 1_000,
      policy: { maxAttempts: 4, baseDelayMs: 25, maxDelayMs: 1_000, budgetRatio: 0.1, budgetReserve: 10 },
      connections: 16,
    },
  },
  setup: async (size, ctx) => {
    const shard = await startFaultyUpstream({ name: 'shard-0' });
    ctx.log(`shard process ${shard.pid} on ${shard.url}`);
    const creators: Record<string, Create> = { before: before.createCaller, 'backoff + jitter, no budget': backoffOnly, after: after.createCaller };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) creators[EXERCISE] = ex.createCaller;
    const idle: Record<string, RpcClient> = {};
    for (const [name, create] of Object.entries(creators)) idle[name] = create(httpRpcClient(shard.url, { connections: 4 }), size.policy);
    return { size, shard, creators, idle };
  },
  teardown: async (input) => {
    for (const c of Object.values(input.idle)) await c.close();
    await input.shard.close();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: '×', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => input.idle.before.call('search', { q: 'one call' }),
    'backoff + jitter, no budget': (input) => input.idle['backoff + jitter, no budget'].call('search', { q: 'one call' }),
    after: (input) => input.idle.after.call('search', { q: 'one call' }),
  },
  exercise: (input) => input.idle[EXERCISE].call('search', { q: 'one call' }),
  options: { iterations: 50, time: 100, warmupTime: 50 },
  extras: async (input, ctx) => {
    const { size } = input;
    const p = size.policy;
    const metrics: Metric[] = [];
    const load = `${size.rate} req/s (deadline ${size.deadlineMs} ms); healthy ${size.healthyMs / 1000} s, down ${size.outageMs / 1000} s (every call 503), back ${size.recoveredMs / 1000} s with ${size.flakyRate * 100}% blips`;
    const policy = `up to ${p.maxAttempts} attempts; backoff ${p.baseDelayMs}-${p.maxDelayMs} ms, full jitter; budget ${p.budgetRatio * 100}% + ${p.budgetReserve}`;
    for (const [variant, create] of Object.entries(input.creators)) {
      ctx.log(`load: ${load}, through ${variant}`);
      let r: RunResult;
      try {
        r = await run(input, create);
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: load failed: ${(err as Error).message}`);
        continue;
      }
      const v = { variant };
      const windows: number[] = [];
      for (let k = 1; k < r.marks.length; k++) {
        const sent = r.marks[k][1] - r.marks[k - 1][1];
        if (sent > 0) windows.push((r.marks[k][0] - r.marks[k - 1][0]) / sent);
      }
      const first = r.marks[0];
      const last = r.marks[r.marks.length - 1];
      const arrivals = last[0] - first[0];
      const requests = last[1] - first[1];
      const outage = r.reqs.filter((q) => q.phase === 'outage');
      const back = r.reqs.filter((q) => q.phase === 'recovered');
      const healthy = r.reqs.filter((q) => q.phase === 'healthy');
      const okBack = back.filter((q) => q.ok).length;
      metrics.push(
        measured(HEADLINE, '×', windows, {
          ...v,
          note: `${arrivals} calls reached the shard for ${requests} requests during the outage (one figure per ${size.windowMs} ms window); ${load}; ${policy}`,
        }),
        { name: 'success rate after recovery', value: (100 * okBack) / Math.max(1, back.length), unit: '%', ...v, note: `${okBack} of ${back.length} requests due once the shard was back (${size.flakyRate * 100}% of its calls fail)` },
        { name: 'success rate while healthy', value: (100 * healthy.filter((q) => q.ok).length) / Math.max(1, healthy.length), unit: '%', ...v, note: `of ${healthy.length} requests` },
        measured('time to fail during the outage', 'ms', outage.map((q) => q.done - q.due), { ...v, note: `mean, from due time to the error, of ${outage.length} requests (backoff makes a failing request fail later)` }),
      );
      if (r.counts) {
        metrics.push({
          name: 'retries refused',
          value: r.counts.budgetRefused + r.counts.deadlineRefused,
          unit: 'retries',
          ...v,
          note: `${r.counts.budgetRefused} by the budget, ${r.counts.deadlineRefused} by the deadline; ${r.counts.attempts} attempts for ${r.counts.calls} requests in the whole run`,
        });
      }
    }
    return { metrics };
  },
});
