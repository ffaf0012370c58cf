/**
 * Benchmark for 14-health-checks: N replicas of a service (replica.ts: the engine's embedder service whose calls also
 * count in Redis), each a process under a kubelet-like probe driver (shared/services/probe-driver.ts: startup,
 * liveness and readiness probes over HTTP, restart on liveness failure, endpoints = the ready replicas), with an
 * open-loop load sent through the ready endpoints with no retry (load.ts). Probes, their timings and the SIGTERM
 * handling come from the policy module: before.ts, after.ts, and the learner's exercise.ts with --impl exercise.
 * The variants run side by side (each its own replicas and its own redis-server), so they share the machine's load.
 *
 * 1. **Redis blip**: a private redis-server (09-fault-recovery/private-redis.ts) is killed, and started again
 *    `blipMs` later: restarts the probes caused, failed calls over the run, Redis back → the first call answered.
 * 2. **Rolling restart** (the headline): each replica in turn gets SIGTERM, starts again on its port and must be
 *    ready before the next: failed calls, by cause (no ready endpoint, connection refused, reset in flight, 503).
 *
 * First the deploy: every replica started under a lenient startup probe and its start-up measured under the run's own
 * load; each variant's plan (`plan(measured)`) is derived from the slowest and applies to every later start. Also:
 * kills of a restarted replica before it was ready (a slow start taken for a stuck one), and the checkpoint's simulated shutdown (virtual ms: requests refused and
 * cut). The tinybench table times that simulation: the policy's own cost, noise, not the headline.
 *
 * Run: npm run t4 -- --only 14-health-checks [--quick] [--impl exercise]
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { ensureSplitIndex } from '../../shared/services/cli-up.ts';
import { PrivateRedis, redisServerMissing } from '../09-fault-recovery/private-redis.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { applyPlan, causes, firstStart, planOf, redisBlip, replicaSet, rollingRestart } from './scenarios.ts';
import { simulateShutdown } from './sim.ts';

type Mod = typeof after;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const HEADLINE = 'failed requests during a rolling restart';

interface Size {
  replicas: number;
  /** Calls per second per variant, open loop. */
  rate: number;
  /** How long each call holds (a timer) besides its embed, ms. */
  holdMs: number;
  blipAtMs: number;
  blipMs: number;
  /** The blip scenario's length, ms. */
  blipRunMs: number;
  /** Load before the first SIGTERM and after the last replica is ready, ms. */
  settleMs: number;
  /** After the blip, how long to wait for every replica to be ready again (then a stuck one is deployed again), ms. */
  recoverMs: number;
  /** A restarted replica not ready within this stops the rolling restart (counted), ms. */
  rollReadyMs: number;
}

interface Input {
  size: Size;
  index: string;
  impls: Record<string, { mod: Mod; file: string }>;
}

async function runVariant(input: Input, name: string, log: (m: string) => void): Promise<Metric[]> {
  const { size } = input;
  const { mod, file } = input.impls[name];
  const v = { variant: name };
  const redis = await PrivateRedis.start();
  const keyPrefix = `ragl14-${name}-${randomBytes(3).toString('hex')}`;
  let kills = 0;
  const set = replicaSet({ policyFile: file, policy: mod, index: input.index, redisUrl: redis.url, replicas: size.replicas, holdMs: size.holdMs, startupMs: 0, keyPrefix, log: (l) => /kill/.test(l) && (kills++ < 6 || kills % 10 === 0) && log(`${name}: ${l}${kills > 6 ? ` (${kills} kills so far)` : ''}`) });
  const metrics: Metric[] = [];
  try {
    // the deploy: every replica under a lenient startup probe, its start-up measured under the run's own load
    const took = await firstStart(set);
    const startupMs = Math.max(...took);
    const p = planOf({ policy: mod, startupMs, holdMs: size.holdMs });
    applyPlan(set, p);
    const budget = (p.startup ?? p.liveness).periodMs * (p.startup ?? p.liveness).failureThreshold;
    metrics.push({ name: 'measured start-up (slowest replica)', value: startupMs, unit: 'ms', ...v, note: `fork → ready, ${size.replicas} replicas starting at once beside the other variants'; the plan lets a starting replica live ${budget} ms (${p.startup ? 'startup probe' : 'no startup probe: liveness'})` });
    log(`${name}: ${size.replicas} replicas ready, slowest after ${(startupMs / 1000).toFixed(1)} s; ${p.startup ? 'startup probe' : 'liveness (no startup probe)'} may kill a starting replica after ${budget} ms`);

    const restarts0 = set.restarts;
    const b = await redisBlip(set, redis, { rate: size.rate, blipAtMs: size.blipAtMs, blipMs: size.blipMs, runMs: size.blipRunMs, log: (l) => log(`${name}: ${l}`) });
    // every replica back before the rolling restart; a restarted one may be killed again while it starts (a crash
    // loop when its start-up is longer than what liveness allows): after `recoverMs` it is deployed again under a
    // lenient startup probe (an operator stepping in), and counted
    const recoverMs = Math.max(size.recoverMs, 2 * startupMs);
    const stuck = (await Promise.all(set.pods.map((p) => p.whenReady(recoverMs).then(() => undefined, () => p)))).filter((p) => p !== undefined);
    b.restarts = set.restarts - restarts0;
    if (!stuck.length) {
      // from the driver's events: each replica's first `ready` after Redis answered again
      const readyAt = set.pods.map((p) => p.events.find((e) => e.kind === 'ready' && e.at >= b.redisBackAt)?.at ?? b.redisBackAt);
      metrics.push({ name: 'Redis blip: Redis back → every replica ready', value: Math.max(...readyAt) - b.redisBackAt, unit: 'ms', ...v, note: 'redis-server answering PING → the last replica passing readiness again (restarted ones: started, warm, probed)' });
    }
    if (stuck.length) {
      log(`${name}: ${stuck.length} replica(s) still not ready ${(recoverMs / 1000).toFixed(0)} s after the blip (killed while starting, again and again): deployed again under a lenient startup probe`);
      await firstStart(set, 90_000, stuck);
    }
    metrics.push({ name: 'Redis blip: replicas in a crash loop afterwards', value: stuck.length, unit: 'replicas', ...v, note: `not ready ${(recoverMs / 1000).toFixed(0)} s after the wait began (the larger of ${size.recoverMs / 1000} s and 2 × the measured start-up): every restart killed by liveness before it was ready` });
    log(`${name}: Redis blip: ${b.restarts} restarts, ${b.failed} of ${b.load.sent} calls failed (${causes(b.load)})`);
    metrics.push(
      { name: 'Redis blip: restarts caused', value: b.restarts, unit: 'restarts', ...v, note: `of ${size.replicas} replicas, counted until every replica was ready again (a restarted replica killed again while starting counts again); Redis down ${size.blipMs / 1000} s` },
      { name: 'Redis blip: failed requests', value: b.failed, unit: 'requests', ...v, note: `of ${b.load.sent} over ${size.blipRunMs / 1000} s (${causes(b.load)}); with Redis down every call fails either way: what differs is how long after it is back` },
      {
        name: 'Redis blip: Redis back → answering',
        value: b.recoveredAfterMs ?? size.blipRunMs - size.blipAtMs - size.blipMs,
        unit: 'ms',
        ...v,
        note: b.recoveredAfterMs === undefined ? 'no call answered before the end of the run (value: that window)' : 'redis-server answering PING → the first call answered 200',
      },
    );

    const r = await rollingRestart(set, { rate: size.rate, settleMs: size.settleMs, readyTimeoutMs: Math.max(size.rollReadyMs, 3 * startupMs), log: (l) => log(`${name}: ${l}`) });
    log(`${name}: rolling restart: ${r.failed} of ${r.load.sent} calls failed (${causes(r.load)})${r.stuck ? `; stopped: ${r.stuck}` : ''}`);
    metrics.push(
      { name: 'rolling restart: starting replicas killed', value: r.startKills, unit: 'kills', ...v, note: `restarted replicas killed by a probe before they were ready (a slow start taken for a stuck process)${r.stuck ? `; ${r.stuck}` : ''}` },
    );
    metrics.push(
      { name: HEADLINE, value: r.failed, unit: 'requests', ...v, note: `of ${r.load.sent} at ${size.rate}/s while ${size.replicas} replicas restarted one at a time (${causes(r.load)}); preStop ${p.preStopMs} ms, drain deadline ${p.drainMs} ms, readiness every ${p.readiness.periodMs} ms × ${p.readiness.failureThreshold}` },
      { name: 'rolling restart: time', value: r.tookMs, unit: 'ms', ...v, note: 'first SIGTERM → the last replica ready again' },
    );
  } finally {
    await set.stop();
    await redis.stop();
  }
  return metrics;
}

const simPlan = (m: Mod) => m.plan({ startupMs: 8_000, longestRequestMs: 300 });

export default defineLesson<Size, Input>({
  id: 't4/14-health-checks',
  title: 'Health checks and graceful shutdown: liveness vs readiness vs startup, preStop and drain',
  workload:
    'N replicas of the embedder service (each call also INCRs a counter in Redis and holds 50 ms), each a process under a kubelet-like probe driver (startup, liveness, readiness over HTTP; restart on liveness failure; endpoints = ready replicas); ' +
    'an open-loop load through the ready endpoints, no retry. A Redis blip (a private redis-server killed, started again), then a rolling restart (SIGTERM, start on the same port, ready, next). ' +
    'Headline: calls failed during the rolling restart; beside it restarts caused by the blip and time to answer again',
  sizes: {
    quick: { replicas: 2, rate: 50, holdMs: 50, blipAtMs: 1_000, blipMs: 6_000, blipRunMs: 10_000, settleMs: 300, recoverMs: 15_000, rollReadyMs: 30_000 },
    full: { replicas: 3, rate: 100, holdMs: 50, blipAtMs: 2_000, blipMs: 6_000, blipRunMs: 15_000, settleMs: 1_000, recoverMs: 30_000, rollReadyMs: 60_000 },
  },
  skip: () => redisServerMissing()?.replace('the Redis restart fault is skipped', 'lesson 14 needs it (apt-get install redis-server)'),
  setup: async (size, ctx) => {
    const index = await ensureSplitIndex(undefined, ctx.log);
    const impls: Input['impls'] = { before: { mod: before as Mod, file: path.join(HERE, 'before.ts') }, after: { mod: after, file: path.join(HERE, 'after.ts') } };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = { mod: ex, file: path.join(HERE, 'exercise.ts') };
    return { size, index, impls };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'requests', better: 'lower', metric: HEADLINE },
  variants: {
    before: () => simulateShutdown(before as Mod, { plan: simPlan(before as Mod) }),
    after: () => simulateShutdown(after, { plan: simPlan(after) }),
  },
  exercise: (input) => simulateShutdown(input.impls[EXERCISE].mod, { plan: simPlan(input.impls[EXERCISE].mod) }),
  options: { iterations: 5, time: 20, warmupTime: 5, rounds: 1 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    // the checkpoint's simulated shutdown (virtual ms), per variant
    for (const [name, { mod }] of Object.entries(input.impls)) {
      try {
        const r = await simulateShutdown(mod, { plan: simPlan(mod) });
        metrics.push({ name: 'simulated: requests failed by one shutdown', value: r.cut + r.refused, unit: 'requests', variant: name, note: `virtual ms, a request every 5 ms: ${r.cut} cut in flight, ${r.refused} refused; steps ${r.steps.join(', ')}` });
      } catch (err) {
        ctx.log(`${name}: simulation failed: ${(err as Error).message}`);
      }
    }
    // the real processes: every variant at once (each its own replicas and Redis), so they share the machine's load
    const runs = await Promise.allSettled(Object.keys(input.impls).map((name) => runVariant(input, name, ctx.log)));
    runs.forEach((r, i) => {
      const name = Object.keys(input.impls)[i];
      if (r.status === 'fulfilled') metrics.push(...r.value);
      else if (name === EXERCISE) ctx.log(`exercise: the run failed: ${(r.reason as Error).message}`);
      else throw r.reason;
    });
    return { metrics };
  },
});
