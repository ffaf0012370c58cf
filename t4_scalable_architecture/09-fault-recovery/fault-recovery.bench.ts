/**
 * Benchmark for 09-fault-recovery: the split engine (gateway + embedder + 2 retriever shards, each its own process:
 * what `npm run t4:up` starts) under a steady open-loop load of searches, with kill -9 of a shard, then the
 * embedder, then the other shard, at set times. Through, in turn:
 *
 * - before: the services started once, no restart (the supervisor's restart delay set longer than the run: a killed
 *   process stays dead; the gateway's flagged partial answers are still there);
 * - after: the supervisor as `npm run t4:up` runs it (restart with backoff 100 ms doubling to 5 s, /readyz polled
 *   before the service counts as up, the same port again) and the gateway's flagged partial/degraded answers.
 *
 * Headline: availability over the fault run: answers that are 200 and complete or flagged ÷ all requests
 * (shared/services/fault-run.ts `classifyAnswer`; a complete answer is compared with the monolith's for the same
 * query, so a silent partial answer counts as unavailable). Beside it, per fault: time to healthy (the kill → the
 * first complete answer to a request sent after it), the supervisor's kill → ready, and the requests that failed.
 *
 * The restart policy itself (after.ts `keepAlive`, and the learner's with --impl exercise) runs in sim.ts's virtual
 * world: starts during a 20 s crash loop, requests that reached a loading child, kill → traffic again. The tinybench
 * table times that simulated scenario (one kill and recovery): the policy's own cost, not the headline.
 *
 * Writes: nothing in this run writes. The write half (an ingest load through BullMQ on Redis → NATS JetStream →
 * shards, kill -9 of the ingest worker, a Redis restart; acknowledged writes lost, jobs lost) plugs in as a
 * `WriteLoad` (fault-run.ts) and is not measured yet. Redis is not on the read path (the split runs without keys).
 *
 * Run: npm run t4 -- --only 09-fault-recovery [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { loadEngine } from '../../shared/engine.ts';
import { brownPhraseSource, distinctPhrases } from '../../shared/loadtest/workloads.ts';
import { ensureSplitIndex, startSplit, type Split } from '../../shared/services/cli-up.ts';
import { runFaultLoad, type Fault, type FaultRunReport, type WriteLoad } from '../../shared/services/fault-run.ts';
import type { Service, SupervisorOptions } from '../../shared/services/supervisor.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { World } from './sim.ts';

type Mod = typeof after;

const HEADLINE = 'availability over the fault run';
const K = 10;

interface Size {
  shards: number;
  durationMs: number;
  /** Searches per second, open loop. */
  rate: number;
  /** When each service is killed, ms after the load starts. */
  faultsAtMs: { shard1: number; embedder: number; shard0: number };
  /** Distinct queries (each with the monolith's answer as reference). */
  queries: number;
}

interface Input {
  size: Size;
  index: string;
  queries: { text: string; expected: string[] }[];
  impls: Record<string, Mod>;
  /** The ingest load, when the write path exists (not yet: see the README). */
  writeLoad?: WriteLoad;
}

/** kill -9 a supervised service; `ready` resolves with ms from the kill until the supervisor has it ready again. */
function killFault(name: string, svc: () => Service, atMs: number, readyMs: Map<string, number | undefined>): Fault {
  return {
    name,
    atMs,
    inject: () => {
      const s = svc();
      const before = s.restarts;
      const t0 = performance.now();
      if (s.pid === undefined) return;
      process.kill(s.pid, 'SIGKILL');
      readyMs.set(name, undefined);
      void (async () => {
        while (performance.now() - t0 < 60_000) {
          if (s.restarts > before && s.state === 'ready') {
            readyMs.set(name, performance.now() - t0);
            return;
          }
          if (s.state === 'stopped') return;
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
    },
  };
}

/** One real fault run on a freshly started split. */
async function faultRun(input: Input, supervisor: SupervisorOptions, log: (m: string) => void): Promise<{ report: FaultRunReport; readyMs: Map<string, number | undefined> }> {
  const { size } = input;
  const split: Split = await startSplit({ index: input.index, shards: size.shards, port: 0, supervisor: { ...supervisor, log: () => {}, forwardStderr: false } });
  try {
    // warm the path (JIT, connections, the gateway's collection statistics)
    for (let i = 0; i < 10; i++) {
      await fetch(`${split.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: input.queries[i].text, k: K }) }).then((r) => r.arrayBuffer());
    }
    const readyMs = new Map<string, number | undefined>();
    const f = size.faultsAtMs;
    const faults = [
      killFault(`SIGKILL shard-1`, () => split.shards[1], f.shard1, readyMs),
      killFault('SIGKILL embedder', () => split.embedder, f.embedder, readyMs),
      killFault('SIGKILL shard-0', () => split.shards[0], f.shard0, readyMs),
    ];
    const report = await runFaultLoad({ url: split.url, durationMs: size.durationMs, rate: size.rate, queries: input.queries, faults, k: K, writeLoad: input.writeLoad, log });
    return { report, readyMs };
  } finally {
    await split.stop();
  }
}

/** The policy in the simulated world: one kill under a client, then a crash loop. Virtual ms, nothing timed. */
async function simulate(impl: Mod): Promise<{ backToTrafficMs?: number; loadingHits: number; crashStarts: number; flaggedOrComplete: number; answers: number }> {
  const w = new World();
  w.loadMs = 300;
  impl.keepAlive(w.spawn, w.traffic, { restartDelayMs: 100, maxRestartDelayMs: 2_000, stableMs: 5_000, probeIntervalMs: 20, readyTimeoutMs: 10_000, now: w.clock.now, sleep: w.clock.sleep });
  w.clientEvery(10, 0, 3_000);
  w.killAt(1_000);
  await w.clock.runUntil(3_000);
  const reopened = w.opened.find((t) => t > 1_000);
  const outcomes = w.answers.map((a) => after.classifyAnswer(a.answer, ['s0-a', 's1-a', 's0-b', 's1-b']));
  const loadingHits = w.answers.filter((a) => a.reachedLoading).length;
  const answers = w.answers.length;
  const flaggedOrComplete = outcomes.filter((o) => o === 'complete' || o === 'flagged').length;
  // then a crash loop: every new child dies 50 ms after it starts, for 20 s
  w.clock.at(3_990, () => (w.crashAfterMs = 50));
  w.killAt(4_000);
  const n0 = w.children.length;
  await w.clock.runUntil(24_000);
  return { backToTrafficMs: reopened === undefined ? undefined : reopened - 1_000, loadingHits, crashStarts: w.children.length - n0, flaggedOrComplete, answers };
}

export default defineLesson<Size, Input>({
  id: 't4/09-fault-recovery',
  title: 'Fault recovery: services started once vs supervised (restart with backoff, readiness, same address)',
  workload:
    'an open-loop load of hybrid searches (k = 10) through the gateway of the split engine (2 shards, embedder, gateway; the Brown index, exact vectors); ' +
    'kill -9 of shard-1, the embedder, then shard-0 at set times; every answer judged complete, flagged (partial/degraded), failed or wrong (differs from the monolith’s without a flag). ' +
    'Headline: available answers ÷ all requests, services started once vs under the supervisor. Also: the restart policy in a simulated crash loop',
  sizes: {
    quick: { shards: 2, durationMs: 14_000, rate: 40, faultsAtMs: { shard1: 1_000, embedder: 1_500, shard0: 9_000 }, queries: 60 },
    full: { shards: 2, durationMs: 30_000, rate: 60, faultsAtMs: { shard1: 3_000, embedder: 11_000, shard0: 19_000 }, queries: 300 },
  },
  setup: async (size, ctx) => {
    ctx.log('index: .cache/idx-brown-flat (built from the Brown corpus on first use, ~6 s)');
    const index = await ensureSplitIndex(undefined, ctx.log);
    // the reference answers: the monolith's (the engine's own query) for each query
    const engine = await loadEngine(index, { llm: null });
    const src = await brownPhraseSource();
    const gen = distinctPhrases(src, 9);
    const queries: Input['queries'] = [];
    for (let i = 0; i < size.queries; i++) {
      const text = gen.next().value as string;
      queries.push({ text, expected: (await engine.query(text, { k: K, answer: false })).hits.map((h) => h.chunkId) });
    }
    const impls: Record<string, Mod> = { before: before as Mod, after };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = ex;
    return { size, index, queries, impls };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: '%', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => simulate(input.impls.before),
    after: (input) => simulate(input.impls.after),
  },
  exercise: (input) => simulate(input.impls[EXERCISE]),
  options: { iterations: 5, time: 20, warmupTime: 5, rounds: 1 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];

    // 1. the restart policy, simulated (virtual ms): before, after, the exercise
    for (const [variant, impl] of Object.entries(input.impls)) {
      let s: Awaited<ReturnType<typeof simulate>>;
      try {
        s = await simulate(impl);
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: simulation failed: ${(err as Error).message}`);
        continue;
      }
      const v = { variant };
      metrics.push(
        { name: 'simulated: starts during a 20 s crash loop', value: s.crashStarts, unit: 'starts', ...v, note: 'every child dies 50 ms after it starts; backoff 100 ms doubling to 2 s ≈ 13; restarting at once ≈ 330' },
        { name: 'simulated: requests that reached a loading child', value: s.loadingHits, unit: 'requests', ...v, note: `of ${s.answers} (one every 10 virtual ms; a child loads for 300 ms): each an unflagged partial answer` },
        { name: 'simulated: kill → traffic again', value: s.backToTrafficMs ?? 2_000, unit: 'ms', ...v, note: s.backToTrafficMs === undefined ? 'never, in the 2 s after the kill (value: the 2 s window)' : 'virtual ms: first wait 100 + load 300 + probe' },
      );
    }

    // 2. the real fault run: before (started once), after (the supervisor)
    const runs: Record<string, SupervisorOptions> = {
      before: { restartDelayMs: 3_600_000, maxRestartDelayMs: 3_600_000 },
      after: {},
    };
    const load = `${size.rate} searches/s open loop for ${size.durationMs / 1000} s, ${input.queries.length} distinct queries (hybrid, k = ${K}); kill -9 at ${size.faultsAtMs.shard1 / 1000} s shard-1, ${size.faultsAtMs.embedder / 1000} s embedder, ${size.faultsAtMs.shard0 / 1000} s shard-0`;
    for (const [variant, sup] of Object.entries(runs)) {
      ctx.log(`fault run, ${variant === 'before' ? 'services started once' : 'under the supervisor'}: ${load}`);
      const { report, readyMs } = await faultRun(input, sup, (m) => ctx.log(`  ${variant}: ${m}`));
      const a = report.availability;
      const c = a.counts;
      const v = { variant };
      metrics.push({
        name: HEADLINE,
        value: 100 * a.ratio,
        unit: '%',
        ...v,
        note: `${a.available} of ${a.total}: ${c.complete} complete, ${c.flagged} flagged (partial or degraded), ${c.failed} failed, ${c.wrong} wrong (unflagged, differs from the monolith's); ${load}`,
      });
      metrics.push({ name: 'complete answers over the fault run', value: (100 * c.complete) / Math.max(1, a.total), unit: '%', ...v, note: `${c.complete} of ${a.total}` });
      for (const f of report.faults) {
        const end = size.durationMs - f.atMs;
        metrics.push({
          name: `${f.name}: time to healthy`,
          value: f.healthyAfterMs ?? end,
          unit: 'ms',
          ...v,
          note:
            f.healthyAfterMs === undefined
              ? `never: no complete answer in the ${(end / 1000).toFixed(1)} s left of the run (value: that window)`
              : `kill → first complete answer to a request sent after it; supervisor: ready again ${readyMs.get(f.name) === undefined ? 'never' : `${readyMs.get(f.name)!.toFixed(0)} ms`} after the kill`,
        });
        if (variant !== 'before') {
          const r = readyMs.get(f.name);
          metrics.push({
            name: `${f.name}: supervisor kill → ready`,
            value: r ?? end,
            unit: 'ms',
            ...v,
            note: r === undefined ? `not ready again in the ${(end / 1000).toFixed(1)} s left of the run (value: that window)` : 'the exit seen, the backoff wait, the new process loading its index, /readyz 200 on the same port',
          });
        }
        metrics.push({
          name: `${f.name}: failed requests`,
          value: f.failed + f.wrong,
          unit: 'requests',
          ...v,
          note: `sent from this kill to the next (or the end): ${f.complete} complete, ${f.flagged} flagged, ${f.failed} failed, ${f.wrong} wrong`,
        });
      }
      if (report.writes) {
        metrics.push(
          { name: 'acknowledged writes lost', value: report.writes.acknowledgedLost, unit: 'writes', ...v, note: `of ${report.writes.acknowledged} acknowledged` },
          { name: 'jobs lost', value: report.writes.jobsLost, unit: 'jobs', ...v, note: `of ${report.writes.jobs}` },
        );
      }
    }
    return { metrics };
  },
});
