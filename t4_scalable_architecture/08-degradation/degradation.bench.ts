/**
 * Benchmark for 08-degradation: the split engine (t4/00's `startSplit`: 2 retriever shards and the embedder, each
 * its own process) with a fault-injecting proxy process in front of shard 1 and one in front of the embedder
 * (shared/services/faulty-upstream.ts, `forwardTo`), and one gateway process per variant over them:
 *
 * - before: fixed per-hop timeouts (embed 1 s, then each shard 1 s again), no bulkheads, an embedder error → 503,
 *   no admission bound;
 * - after: the engine's gateway: the client's budget propagated to every hop, a bulkhead per shard and for the
 *   embedder, BM25 only when the embedder cannot help, all flagged; over `maxInFlight` requests shed with 503;
 * - the learner's retrieval (exercise.ts) in the same gateway as after, with --impl exercise.
 *
 * Each gateway gets the same open-loop load (hybrid queries, k = 10, each with `x-request-timeout-ms: budgetMs`; the
 * client gives up at that budget) through three phases, the faults switched over IPC in the proxies:
 *   1. slow shard: shard 1 answers `slowMs` late (longer than any budget);
 *   2. dead embedder: the embedder's port is closed (connection refused);
 *   3. overload: every service healthy, `overloadRate` requests/s (above what the split serves here).
 *
 * Headline: availability, the share of requests answered 200 (complete, or partial/degraded and flagged) before the
 * client gave up, over all three phases. Beside it: per phase, availability and the p99 of the time the client
 * waited for its outcome (an answer, an error, or its own budget), and the share of complete answers (nothing left
 * out): what availability bought with flagged partial answers. The tinybench table is one query through each
 * gateway with every service healthy (the mechanism's own cost: noise).
 *
 * Run: npm run t4 -- --only 08-degradation [--quick] [--impl exercise]
 */
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { brownPhraseSource, distinctPhrases } from '../../shared/loadtest/workloads.ts';
import { ensureSplitIndex, startSplit, type Split } from '../../shared/services/cli-up.ts';
import { startFaultyUpstream, type Fault, type FaultyUpstream } from '../../shared/services/faulty-upstream.ts';
import { REQUEST_TIMEOUT_HEADER, type GatewayEnv } from '../../shared/services/gateway.ts';
import type { Service } from '../../shared/services/supervisor.ts';

const BEFORE_FILE = fileURLToPath(new URL('./before.ts', import.meta.url));
const EXERCISE_FILE = fileURLToPath(new URL('./exercise.ts', import.meta.url));

const HEADLINE = 'availability under fault and overload';

interface Size {
  /** Requests per second in the fault phases. */
  rate: number;
  /** Requests per second in the overload phase. */
  overloadRate: number;
  phaseMs: number;
  /** The client's budget per request (x-request-timeout-ms), ms; it gives up then. */
  budgetMs: number;
  /** Shard 1's added latency in the slow-shard phase, ms. */
  slowMs: number;
  /** The after gateway's limits. */
  limits: NonNullable<GatewayEnv['limits']>;
}

type Phase = 'slow shard' | 'dead embedder' | 'overload';
const PHASES: Phase[] = ['slow shard', 'dead embedder', 'overload'];

interface Target {
  name: string;
  gateway: Service;
  pool: Pool;
}

interface Input {
  size: Size;
  split: Split;
  shardProxy: FaultyUpstream;
  embedProxy: FaultyUpstream;
  targets: Target[];
  phrases: string[];
  next: number;
}

interface Outcome {
  phase: Phase;
  status: number; // 0: the client gave up (its budget) or the connection failed
  waitedMs: number;
  flagged: boolean;
}

async function query(t: Target, text: string, budgetMs: number): Promise<{ status: number; flagged: boolean }> {
  const res = await t.pool.request({
    method: 'POST',
    path: '/v1/query',
    headers: { 'content-type': 'application/json', [REQUEST_TIMEOUT_HEADER]: String(budgetMs) },
    body: JSON.stringify({ query: text, k: 10 }),
    signal: AbortSignal.timeout(budgetMs),
  });
  const body = await res.body.text();
  let flagged = false;
  if (res.statusCode === 200) {
    const j = JSON.parse(body) as { partial?: boolean; degraded?: string[] };
    flagged = j.partial === true || (j.degraded?.length ?? 0) > 0;
  }
  return { status: res.statusCode, flagged };
}

/** An open-loop load: `rate` requests per second for `ms`, each on its own, whatever the others are doing. */
async function load(input: Input, t: Target, phase: Phase, rate: number, ms: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const gap = 1000 / rate;
  const t0 = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - t0;
      while (next <= now && next < ms) {
        const due = t0 + next;
        const text = input.phrases[input.next++ % input.phrases.length];
        pending.push(
          query(t, text, input.size.budgetMs).then(
            (r) => void out.push({ phase, status: r.status, flagged: r.flagged, waitedMs: performance.now() - due }),
            () => void out.push({ phase, status: 0, flagged: false, waitedMs: performance.now() - due }),
          ),
        );
        next += gap;
      }
      if (next >= ms) resolve();
      else setTimeout(tick, Math.max(0, t0 + next - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  return out;
}

const HEALTHY: Fault = {};

async function setFaults(input: Input, phase: Phase | 'healthy'): Promise<void> {
  await input.shardProxy.setFault(phase === 'slow shard' ? { latencyMs: input.size.slowMs } : HEALTHY);
  await input.embedProxy.setFault(phase === 'dead embedder' ? { mode: 'refuse' } : HEALTHY);
}

/** The after gateway's limits (GatewayOptions): sized for this 2-core machine, where the split serves ~50-100 queries/s. */
const LIMITS: Size['limits'] = { maxInFlight: 32, maxPerShard: 8, maxToEmbedder: 8, maxQueue: 4, replyReserveMs: 100 };

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default defineLesson<Size, Input>({
  id: 't4/08-degradation',
  title: 'Degradation and timeouts: fixed per-hop timeouts vs a propagated deadline, bulkheads and flagged partial answers',
  workload:
    'the split (2 shards + embedder, separate processes) with fault proxies before shard 1 and the embedder; an open-loop load of hybrid queries, ' +
    'each with a 1 s client budget, through three phases: shard 1 slow, the embedder dead, then overload. Headline: availability (answered 200, ' +
    'complete or flagged, before the client gave up) over the three phases; beside it the p99 of the client’s wait per phase',
  sizes: {
    quick: { rate: 30, overloadRate: 250, phaseMs: 1_000, budgetMs: 1_000, slowMs: 2_000, limits: LIMITS },
    full: { rate: 30, overloadRate: 250, phaseMs: 6_000, budgetMs: 1_000, slowMs: 2_000, limits: LIMITS },
  },
  setup: async (size, ctx) => {
    const index = await ensureSplitIndex(undefined, ctx.log);
    ctx.log('starting the split (2 shards, embedder), a fault proxy before shard 1 and one before the embedder…');
    const split = await startSplit({ index, shards: 2, port: 0, supervisor: { log: () => {}, forwardStderr: false } });
    const proxies: FaultyUpstream[] = [];
    try {
      const secret = split.supervisor.secret;
      const [shardProxy, embedProxy] = await Promise.all([
        startFaultyUpstream({ name: 'shard-1-proxy', forwardTo: split.shards[1].url, secret }),
        startFaultyUpstream({ name: 'embedder-proxy', forwardTo: split.embedder.url, secret }),
      ]);
      proxies.push(shardProxy, embedProxy);
      const gatewayEnv = (retriever: string | undefined, limits: Size['limits']): Record<string, string> => ({
        RAG_SHARD_URLS: [split.shards[0].url, shardProxy.url].join(','),
        RAG_EMBEDDER_URL: embedProxy.url,
        RAG_GATEWAY_SERVER: JSON.stringify({ auth: false }),
        RAG_GATEWAY_LIMITS: JSON.stringify(limits),
        ...(retriever ? { RAG_GATEWAY_RETRIEVER: retriever } : {}),
        LOG_LEVEL: 'error',
      });
      const start = (name: string, retriever: string | undefined, limits: Size['limits']) =>
        split.supervisor.start({ name, script: 'shared/services/gateway.ts', args: ['--host', '127.0.0.1'], port: 0, env: gatewayEnv(retriever, limits) });
      const gateways: Array<[string, Promise<Service>]> = [
        ['before', start('gateway-before', BEFORE_FILE, { maxInFlight: 1_000_000 })],
        ['after', start('gateway-after', undefined, size.limits)],
      ];
      if (ctx.exercise) gateways.push([EXERCISE, start('gateway-exercise', EXERCISE_FILE, size.limits)]);
      const targets: Target[] = [];
      for (const [name, p] of gateways) {
        try {
          const gateway = await p;
          targets.push({ name, gateway, pool: new Pool(gateway.url, { connections: 512 }) });
        } catch (err) {
          if (name !== EXERCISE) throw err;
          ctx.log(`exercise: its gateway did not start: ${(err as Error).message}`);
        }
      }
      // the gateways are ready once they have every shard's statistics
      for (const t of targets) {
        for (let i = 0; i < 100; i++) {
          const res = await t.pool.request({ method: 'GET', path: '/readyz' });
          await res.body.dump();
          if (res.statusCode === 200) break;
          await settle(100);
        }
      }
      const gen = distinctPhrases(await brownPhraseSource(), 13);
      const phrases = Array.from({ length: 5_000 }, () => gen.next().value as string);
      const input: Input = { size, split, shardProxy, embedProxy, targets, phrases, next: 0 };
      for (const t of targets) for (let i = 0; i < 10; i++) await query(t, phrases[input.next++], 5_000);
      return input;
    } catch (err) {
      await Promise.all(proxies.map((p) => p.close()));
      await split.stop();
      throw err;
    }
  },
  teardown: async (input) => {
    await Promise.all(input.targets.map((t) => t.pool.close()));
    await Promise.all([input.shardProxy.close(), input.embedProxy.close()]);
    await input.split.stop();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: '%', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => query(input.targets.find((t) => t.name === 'before')!, input.phrases[input.next++ % input.phrases.length], 5_000),
    after: (input) => query(input.targets.find((t) => t.name === 'after')!, input.phrases[input.next++ % input.phrases.length], 5_000),
  },
  exercise: (input) => query(input.targets.find((t) => t.name === EXERCISE)!, input.phrases[input.next++ % input.phrases.length], 5_000),
  options: { iterations: 30, time: 100, warmupTime: 50 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    try {
      // phases outer, gateways inner: on a shared machine whose load drifts, the variants of one phase run minutes apart at most
      const all = new Map<string, Outcome[]>(input.targets.map((t) => [t.name, []]));
      for (const phase of PHASES) {
        for (const t of input.targets) {
          await setFaults(input, phase);
          const rate = phase === 'overload' ? size.overloadRate : size.rate;
          ctx.log(`${t.name}: ${phase}, ${rate} req/s for ${size.phaseMs / 1000} s (client budget ${size.budgetMs} ms)`);
          const out = await load(input, t, phase, rate, size.phaseMs);
          all.get(t.name)!.push(...out);
          await setFaults(input, 'healthy');
          await settle(300); // what the phase left in the gateway (past the client's budget) drains before the next
          const ok = out.filter((o) => o.status === 200);
          const codes = new Map<number, number>();
          for (const o of out) codes.set(o.status, (codes.get(o.status) ?? 0) + 1);
          const codeText = [...codes].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c === 0 ? 'gave up' : c}: ${n}`).join(', ');
          metrics.push(
            measured(`availability: ${phase}`, '%', out.map((o) => (o.status === 200 ? 100 : 0)), {
              variant: t.name,
              note: `${ok.length} of ${out.length} answered 200 (${ok.filter((o) => o.flagged).length} flagged partial/degraded); ${codeText}; ${rate} req/s`,
            }),
            measured(`p99 wait: ${phase}`, 'ms', out.map((o) => o.waitedMs), {
              variant: t.name,
              stat: 'p99',
              note: `from due time to the client's outcome (an answer, an error or its ${size.budgetMs} ms budget), all ${out.length} requests`,
            }),
          );
        }
      }
      for (const t of input.targets) {
        const outs = all.get(t.name)!;
        const okAll = outs.filter((o) => o.status === 200);
        metrics.push(
          measured(HEADLINE, '%', outs.map((o) => (o.status === 200 ? 100 : 0)), {
            variant: t.name,
            note: `${okAll.length} of ${outs.length} requests answered 200 before the client's ${size.budgetMs} ms budget (${okAll.filter((o) => o.flagged).length} of them flagged partial/degraded), over: ${PHASES.join(', ')}`,
          }),
          measured('complete answers under fault and overload', '%', outs.map((o) => (o.status === 200 && !o.flagged ? 100 : 0)), {
            variant: t.name,
            note: `answered 200 with nothing left out (not partial, not degraded): ${okAll.filter((o) => !o.flagged).length} of ${outs.length}; availability counts flagged answers too`,
          }),
          measured('p99 wait under fault and overload', 'ms', outs.map((o) => o.waitedMs), { variant: t.name, stat: 'p99', note: `all ${outs.length} requests of the three phases` }),
        );
      }
    } finally {
      await setFaults(input, 'healthy');
    }
    return { metrics };
  },
});
