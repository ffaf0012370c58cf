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
 * Writes (when NATS with JetStream answers): the split takes writes (`startSplit({writeLog})`: shards following a
 * JetStream stream of the run's own, an ingest worker on BullMQ, the gateway's POST /v1/documents), with Redis a
 * redis-server of the run's own (never the shared one; without redis-server on the PATH the writes use REDIS_URL and
 * the Redis fault is skipped). Beside the searches, `ingestLoad` (fault-run.ts) starts writes at a steady rate, each
 * a one-word document of its own, sent by a client that retries unknown outcomes with the same Idempotency-Key; two
 * more faults: kill -9 of the ingest worker, and Redis killed (under `after` started again on the same port at once,
 * under `before` left dead). Figures: write availability (acknowledged on the first attempt), acknowledged writes
 * lost (a 200, and no shard holds the document at the end: `has`), jobs lost (no outcome after the client's
 * retries), and per fault the time to the first acknowledged write. The stream and the queue are deleted at the end.
 *
 * Run: npm run t4 -- --only 09-fault-recovery [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { loadEngine } from '../../shared/engine.ts';
import { brownPhraseSource, distinctPhrases } from '../../shared/loadtest/workloads.ts';
import { ensureSplitIndex, startSplit, type Split } from '../../shared/services/cli-up.ts';
import { ingestLoad, runFaultLoad, type Fault, type FaultRunReport } from '../../shared/services/fault-run.ts';
import { httpRpcClient } from '../../shared/services/http-rpc.ts';
import { queueName, REDIS_URL } from '../../shared/services/ingest-worker.ts';
import { connectNats, deleteWriteLog, natsSkipReason } from '../../shared/services/jetstream-log.ts';
import type { Service, SupervisorOptions } from '../../shared/services/supervisor.ts';
import { redisConnection } from '../../shared/util/redis.ts';
import { randomBytes } from 'node:crypto';
import { PrivateRedis, redisServerMissing } from './private-redis.ts';
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
  /**
   * When each service is killed (Redis: killed, and started again under `after`), ms after the load starts. The
   * worker and Redis 100 ms after a write was sent (writes go out on whole seconds): its job is then most likely
   * queued or running, the case the accounting is about.
   */
  faultsAtMs: { shard1: number; embedder: number; shard0: number; ingest: number; redis: number };
  /** Distinct queries (each with the monolith's answer as reference). */
  queries: number;
  /** Writes started per second (each one a client retrying until acknowledged or refused). */
  writeRate: number;
  /** After the load: how long the write clients go on retrying what is not settled yet, ms. */
  settleMs: number;
}

interface Input {
  size: Size;
  index: string;
  queries: { text: string; expected: string[] }[];
  impls: Record<string, Mod>;
  /** Why the write half does not run (NATS unreachable), or undefined: it runs. */
  noWrites?: string;
  /** Why the Redis fault does not run (no redis-server: the writes use REDIS_URL, never restarted), or undefined. */
  noRedisFault?: string;
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

const WRITE_FAULTS = new Set(['SIGKILL ingest worker', 'restart Redis']);

/** The Redis fault: SIGKILL the run's own redis-server; under `after`, start it again on the same port at once. */
function redisFault(redis: PrivateRedis, atMs: number, restart: boolean, readyMs: Map<string, number | undefined>): Fault {
  const name = 'restart Redis';
  return {
    name,
    atMs,
    inject: async () => {
      const t0 = performance.now();
      readyMs.set(name, undefined);
      await redis.kill();
      if (!restart) return;
      await redis.restart();
      readyMs.set(name, performance.now() - t0);
    },
  };
}

/** Which of `ids` the shards hold: true / false, undefined when a shard did not answer and the others do not hold it. */
async function heldByShards(split: Split, ids: string[]): Promise<(boolean | undefined)[]> {
  const clients = split.shards.map((s) => httpRpcClient(s.url, { secret: split.supervisor.secret }));
  try {
    const replies = await Promise.all(clients.map((c) => c.call<{ present: boolean[] }>('has', { ids }, { deadlineMs: 5_000 }).catch(() => undefined)));
    return ids.map((_, i) => (replies.some((r) => r?.present[i] === true) ? true : replies.every((r) => r !== undefined) ? false : undefined));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** One real fault run on a freshly started split (taking writes unless `input.noWrites`). */
async function faultRun(
  input: Input,
  variant: string,
  supervisor: SupervisorOptions,
  log: (m: string) => void,
): Promise<{ report: FaultRunReport; readyMs: Map<string, number | undefined> }> {
  const { size } = input;
  const writes = input.noWrites === undefined;
  const tag = `${process.pid}${randomBytes(3).toString('hex')}`;
  // a write log (JetStream stream) and a queue of this run's own, deleted at the end
  const logName = `t4f09_${variant}_${tag}`;
  const nc = writes ? await connectNats() : undefined;
  let redis: PrivateRedis | undefined;
  try {
    if (writes && input.noRedisFault === undefined) redis = await PrivateRedis.start();
    const redisUrl = redis?.url ?? REDIS_URL;
    if (nc) await deleteWriteLog(nc, logName);
    const split: Split = await startSplit({
      index: input.index,
      shards: size.shards,
      port: 0,
      supervisor: { ...supervisor, log: () => {}, forwardStderr: false },
      ...(writes ? { writeLog: logName, env: { REDIS_URL: redisUrl } } : {}),
    });
    try {
      // warm the path (JIT, connections, the gateway's collection statistics)
      for (let i = 0; i < 10; i++) {
        await fetch(`${split.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: input.queries[i].text, k: K }) }).then((r) => r.arrayBuffer());
      }
      // one document of one word of its own (no dictionary word: its vector is zero, it cannot enter a search's hits)
      const marker = (i: number | string) => `qzx${tag}w${i}`;
      const doc = (i: number | string) => ({ id: `fault09/${tag}/${i}`, text: marker(i) });
      if (writes) {
        const r = await fetch(`${split.url}/v1/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ documents: [doc('warm')] }), signal: AbortSignal.timeout(30_000) });
        if (r.status !== 200) throw new Error(`the warm-up write was not acknowledged: ${r.status} ${await r.text()}`);
      }
      const readyMs = new Map<string, number | undefined>();
      const f = size.faultsAtMs;
      const faults = [
        killFault(`SIGKILL shard-1`, () => split.shards[1], f.shard1, readyMs),
        killFault('SIGKILL embedder', () => split.embedder, f.embedder, readyMs),
        killFault('SIGKILL shard-0', () => split.shards[0], f.shard0, readyMs),
      ];
      if (writes) faults.push(killFault('SIGKILL ingest worker', () => split.ingest!, f.ingest, readyMs));
      if (redis) faults.push(redisFault(redis, f.redis, variant !== 'before', readyMs));
      const writeLoad = writes
        ? ingestLoad({
            url: split.url,
            rate: size.writeRate,
            doc,
            key: (i) => `${logName}-${i}`,
            held: (ids) => heldByShards(split, ids),
            settleMs: size.settleMs,
            attemptTimeoutMs: 6_000,
            log,
          })
        : undefined;
      const report = await runFaultLoad({ url: split.url, durationMs: size.durationMs, rate: size.rate, queries: input.queries, faults, k: K, writeLoad, log });
      return { report, readyMs };
    } finally {
      await split.stop();
    }
  } finally {
    if (writes && !redis) {
      // the shared Redis: delete this run's queue (a private one goes away with its process)
      const { Queue } = await import('bullmq');
      const q = new Queue(queueName(logName), { connection: redisConnection(REDIS_URL) });
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
    await redis?.stop();
    if (nc) {
      await deleteWriteLog(nc, logName).catch(() => {});
      await nc.close();
    }
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
    'Beside it a write load (1-2 ingests/s through the gateway → BullMQ on a Redis of the run’s own → ingest worker → JetStream → shards, retried with their Idempotency-Key) and two more faults: kill -9 of the ingest worker, a Redis restart; acknowledged writes lost, jobs lost. ' +
    'Headline: available answers ÷ all requests, services started once vs under the supervisor. Also: the restart policy in a simulated crash loop',
  sizes: {
    quick: { shards: 2, durationMs: 16_000, rate: 40, faultsAtMs: { shard1: 1_000, embedder: 1_500, ingest: 6_100, shard0: 9_000, redis: 13_600 }, queries: 60, writeRate: 1, settleMs: 6_000 },
    full: { shards: 2, durationMs: 30_000, rate: 60, faultsAtMs: { shard1: 3_000, ingest: 7_100, embedder: 11_000, shard0: 19_000, redis: 25_100 }, queries: 300, writeRate: 2, settleMs: 12_000 },
  },
  setup: async (size, ctx) => {
    ctx.log('index: .cache/idx-brown-flat (built from the Brown corpus on first use, ~6 s)');
    const index = await ensureSplitIndex(undefined, ctx.log);
    const noWrites = await natsSkipReason();
    if (noWrites) ctx.log(`write half skipped: ${noWrites}`);
    const noRedisFault = noWrites ? undefined : redisServerMissing();
    if (noRedisFault) ctx.log(`${noRedisFault}; the writes use ${REDIS_URL} (a queue of their own, never restarted)`);
    // the reference answers: the monolith's (the engine's own query) for each query
    const engine = await loadEngine(index, { llm: null });
    const src = await brownPhraseSource();
    const gen = distinctPhrases(src, 9);
    const candidates: Input['queries'] = [];
    for (let i = 0; i < (noWrites ? size.queries : 2 * size.queries); i++) {
      const text = gen.next().value as string;
      candidates.push({ text, expected: (await engine.query(text, { k: K, answer: false })).hits.map((h) => h.chunkId) });
    }
    let queries = candidates;
    if (!noWrites) {
      // The write load adds one-word documents of their own words (zero vectors: never a hit), but every document
      // moves the BM25 statistics (N, average length) a little, and a near-tie can swap places: the answer then
      // differs from the reference though nothing is missing. Keep the queries whose answer is the same with the
      // run's writes (and twice as many) added to the monolith, so a difference in the run is a real one.
      const extra = Math.ceil(2 * size.writeRate * ((size.durationMs + size.settleMs) / 1000)) + 10;
      await engine.ingest(Array.from({ length: extra }, (_, i) => ({ id: `fault09/reference/${i}`, text: `qzxreferencew${i}` })));
      const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
      const stable: Input['queries'] = [];
      for (const q of candidates) {
        if (stable.length === size.queries) break;
        if (same(q.expected!, (await engine.query(q.text, { k: K, answer: false })).hits.map((h) => h.chunkId))) stable.push(q);
      }
      ctx.log(`queries: ${stable.length} of the ${candidates.length} candidates answer the same with ${extra} one-word documents added (the others are left out: a write could reorder their near-ties)`);
      queries = stable;
    }
    const impls: Record<string, Mod> = { before: before as Mod, after };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = ex;
    return { size, index, queries, impls, noWrites, noRedisFault };
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
    const fa = size.faultsAtMs;
    const kills: [number, string][] = [
      [fa.shard1, 'shard-1'],
      [fa.embedder, 'embedder'],
      [fa.shard0, 'shard-0'],
      ...(input.noWrites ? [] : ([[fa.ingest, 'ingest worker']] as [number, string][])),
      ...(input.noWrites || input.noRedisFault ? [] : ([[fa.redis, "Redis (the run's own; started again at once under after, left dead under before)"]] as [number, string][])),
    ];
    const load =
      `${size.rate} searches/s open loop for ${size.durationMs / 1000} s, ${input.queries.length} distinct queries (hybrid, k = ${K})` +
      (input.noWrites ? '' : `, ${size.writeRate} writes/s (one new one-word document each, retried with its Idempotency-Key until acknowledged or refused, up to ${size.settleMs / 1000} s after the load)`) +
      `; kill -9 at ${kills.sort((x, y) => x[0] - y[0]).map(([at, n]) => `${at / 1000} s ${n}`).join(', ')}`;
    for (const [variant, sup] of Object.entries(runs)) {
      ctx.log(`fault run, ${variant === 'before' ? 'services started once' : 'under the supervisor'}: ${load}`);
      const { report, readyMs } = await faultRun(input, variant, sup, (m) => ctx.log(`  ${variant}: ${m}`));
      const a = report.availability;
      const c = a.counts;
      const v = { variant };
      metrics.push({
        name: HEADLINE,
        value: 100 * a.ratio,
        unit: '%',
        ...v,
        note: `${a.available} of ${a.total} searches: ${c.complete} complete, ${c.flagged} flagged (partial or degraded), ${c.failed} failed, ${c.wrong} wrong (unflagged, differs from the monolith's); ${load}`,
      });
      metrics.push({ name: 'complete answers over the fault run', value: (100 * c.complete) / Math.max(1, a.total), unit: '%', ...v, note: `${c.complete} of ${a.total}` });
      const w = report.writes;
      if (w?.attempts) {
        // a timeline of the write side, one cell per second: attempts sent that second → how many of them were acknowledged
        const secs = Math.ceil((size.durationMs + size.settleMs) / 1000);
        const cells = Array.from({ length: secs }, (_, i) => {
          const sent = w.attempts!.filter((x) => Math.floor(x.at / 1000) === i);
          return sent.length === 0 ? '·' : `${sent.filter((x) => x.outcome === 'acknowledged').length}/${sent.length}`;
        });
        ctx.log(`  ${variant}: write attempts acknowledged/sent per second: ${cells.join(' ')}`);
      }
      if (w) {
        const attempts = w.attempts ?? [];
        const ackAttempts = attempts.filter((x) => x.outcome === 'acknowledged').length;
        metrics.push(
          {
            name: 'write availability over the fault run',
            value: (100 * (w.firstAttemptAcknowledged ?? 0)) / Math.max(1, w.jobs),
            unit: '%',
            ...v,
            note: `writes acknowledged on their first attempt: ${w.firstAttemptAcknowledged} of ${w.jobs}; after the clients' retries ${w.acknowledged} acknowledged, ${w.refused} refused, ${w.jobsLost} with no outcome; ${attempts.length} attempts, ${ackAttempts} answered 200`,
          },
          {
            name: 'acknowledged writes lost',
            value: w.acknowledgedLost,
            unit: 'writes',
            ...v,
            note: `of ${w.acknowledged} acknowledged (200), not held by any shard at the end; ${w.acknowledgedUnverified} could not be checked (a shard down at the end); ${w.appliedUnacknowledged} held though never acknowledged (their answers lost: harmless, a retry replaces)`,
          },
          { name: 'jobs lost', value: w.jobsLost, unit: 'jobs', ...v, note: `writes of ${w.jobs} neither acknowledged nor refused after the client's retries (every attempt 503/504/reset/timeout until ${size.settleMs / 1000} s after the load)` },
        );
      }
      for (const f of report.faults) {
        const onWrites = WRITE_FAULTS.has(f.name);
        const wf = report.writeFaults?.find((x) => x.name === f.name);
        const end = size.durationMs - f.atMs;
        const wend = end + size.settleMs;
        const ready = readyMs.get(f.name);
        const sup = ready === undefined ? 'never' : `${ready.toFixed(0)} ms`;
        if (!onWrites) {
          metrics.push({
            name: `${f.name}: time to healthy`,
            value: f.healthyAfterMs ?? end,
            unit: 'ms',
            ...v,
            note:
              f.healthyAfterMs === undefined
                ? `never: no complete answer in the ${(end / 1000).toFixed(1)} s left of the run (value: that window)`
                : `kill → first complete answer to a search sent after it; supervisor: ready again ${sup} after the kill`,
          });
        }
        if (wf) {
          metrics.push({
            name: `${f.name}: time to healthy${onWrites ? '' : ' (writes)'}`,
            value: wf.healthyAfterMs ?? wend,
            unit: 'ms',
            ...v,
            note:
              wf.healthyAfterMs === undefined
                ? `never: no write acknowledged in the ${(wend / 1000).toFixed(1)} s left (run and settling; value: that window)`
                : `${f.name.startsWith('restart') ? 'SIGKILL' : 'kill'} → first acknowledged write sent after it; ${f.name === 'restart Redis' ? `redis-server answering PING again: ${sup}` : `supervisor: ready again ${sup}`} after the kill`,
          });
        }
        if (variant !== 'before' && f.name !== 'restart Redis') {
          metrics.push({
            name: `${f.name}: supervisor kill → ready`,
            value: ready ?? end,
            unit: 'ms',
            ...v,
            note: ready === undefined ? `not ready again in the ${(end / 1000).toFixed(1)} s left of the run (value: that window)` : 'the exit seen, the backoff wait, the new process loading its index, /readyz 200 on the same port',
          });
        }
        metrics.push({
          name: `${f.name}: failed requests`,
          value: f.failed + f.wrong,
          unit: 'requests',
          ...v,
          note: `searches sent from this fault to the next (or the end): ${f.complete} complete, ${f.flagged} flagged, ${f.failed} failed, ${f.wrong} wrong`,
        });
        if (wf) {
          metrics.push({
            name: `${f.name}: write attempts not acknowledged`,
            value: wf.unknown + wf.refused,
            unit: 'attempts',
            ...v,
            note: `write attempts sent from this fault to the next: ${wf.acknowledged} acknowledged, ${wf.unknown} unknown (503/504/reset/timeout: retried), ${wf.refused} refused`,
          });
        }
      }
    }
    return { metrics };
  },
});
