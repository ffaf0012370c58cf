/**
 * Benchmark for 11-compose: bringing the whole stack up (gateway, 2 shards, embedder, ingest worker, Redis, NATS,
 * PostgreSQL, Prometheus), started in dependency order only (before: plain `depends_on`, `up -d`) or health-gated
 * (after: `condition: service_healthy` on readiness healthchecks, and "up" only once every service is ready).
 *
 * 1. **Simulated** (every run, the headline): the bring-up policy (after.ts `bringUp`, before.ts, the learner's
 *    exercise) in sim.ts's virtual world: the stack of compose.yml with its start-up times (stack.ts), a client
 *    querying every 10 virtual ms from the moment the bring-up says "up". Counted, not timed: the same figures on any
 *    machine. Headline: **failed requests after "up"** (refused or 503 because a service on the query's path was
 *    not ready). Beside it: time to ready, services started before a dependency was ready, failed starts.
 * 2. **Real** (full run, with Docker and docker-compose): deploy/compose/compose.yml itself (after) and the same file
 *    with its healthchecks and conditions removed (before: a plain `depends_on` list), each brought up under a
 *    project of its own by shared/deploy/compose.ts and torn down. From `up` starting: when `upStack` returned,
 *    when the first complete answer came, and how many requests failed in between (a client sending every 50 ms
 *    from the moment it returned). Images are built first and cached; the figure is a container start, not a build.
 *
 * The tinybench table times one simulated bring-up (the policy's own cost in virtual time: a few ms).
 *
 * Run: npm run t4 -- --only 11-compose [--quick] [--impl exercise]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { composeAvailable, COMPOSE_FILE, upStack } from '../../shared/deploy/compose.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { simulate, type SimRun } from './sim.ts';
import { STACK } from './stack.ts';

type Mod = typeof after;

interface Size {
  /** Bring the real stack up (before and after) when Docker and docker-compose are there. */
  real: boolean;
  /** How long the real client waits for a complete answer after `up`, ms. */
  realWaitMs: number;
}

interface Input {
  size: Size;
  impls: Record<string, Mod>;
  realSkip?: string;
}

const HEADLINE = 'failed requests after "up"';
const PROBE_MS = 100;

function sim(impl: Mod): Promise<SimRun> {
  return simulate(impl.bringUp, STACK, { probeIntervalMs: PROBE_MS, clientEveryMs: 10, untilMs: 20_000 });
}

/** compose.yml without healthchecks and with `depends_on` as a plain list: the before of the real rows. */
function plainComposeFile(): { file: string; dir: string } {
  const doc = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, Record<string, unknown>> };
  for (const svc of Object.values(doc.services)) {
    delete svc.healthcheck;
    if (svc.depends_on && !Array.isArray(svc.depends_on)) svc.depends_on = Object.keys(svc.depends_on as object);
    // relative bind mounts are relative to the file: the copy lives elsewhere
    if (Array.isArray(svc.volumes)) svc.volumes = (svc.volumes as string[]).map((v) => (v.startsWith('./') ? path.join(path.dirname(COMPOSE_FILE), v.slice(2)) : v));
  }
  for (const k of Object.keys(doc)) if (k.startsWith('x-')) delete (doc as Record<string, unknown>)[k];
  const dir = mkdtempSync(path.join(tmpdir(), 'ragl11-plain-'));
  const file = path.join(dir, 'compose.plain.yml');
  // every string quoted: PyYAML (YAML 1.1, docker-compose's parser) reads a bare no or yes as a boolean
  writeFileSync(file, stringify(doc, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }));
  return { file, dir };
}

interface RealRun {
  returnedMs: number;
  firstCompleteMs?: number;
  failed: number;
  sent: number;
}

/** One real bring-up: from `up` to upStack's return, then a client every 50 ms until the first complete answer. */
async function realBringUp(variant: 'before' | 'after', size: Size, log: (l: string) => void): Promise<RealRun> {
  const plain = variant === 'before' ? plainComposeFile() : undefined;
  const stack = await upStack({ file: plain?.file, waitHealthy: variant === 'after', log, project: `ragl11-bench-${variant}-${process.pid}` });
  // fetch's timers (AbortSignal.timeout) and idle sockets do not hold the event loop: without a handle of its own the
  // runner's process could end mid-loop (exit 13, an unsettled await) with the stack still up
  const hold = setInterval(() => {}, 1_000);
  try {
    // times from `up -d` starting (upStack's images and index checks before it are left out)
    const returnedMs = stack.upToReadyMs;
    const t0 = performance.now() - returnedMs;
    // open loop: a request every 50 ms whatever the answers (a request that hangs does not slow the count down),
    // until the first complete answer (200, not partial)
    let failed = 0;
    let sent = 0;
    let firstCompleteMs: number | undefined;
    const inFlight: Promise<void>[] = [];
    const end = performance.now() + size.realWaitMs;
    while (firstCompleteMs === undefined && performance.now() < end) {
      sent++;
      inFlight.push(
        fetch(`${stack.url}/v1/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '2000' },
          body: JSON.stringify({ query: 'jury election', k: 10 }),
          signal: AbortSignal.timeout(3_000),
        })
          .then(async (r) => r.status === 200 && !((await r.json()) as { partial?: boolean }).partial)
          .catch(() => false)
          .then((ok) => {
            if (!ok) failed++;
            else firstCompleteMs ??= performance.now() - t0;
          }),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(inFlight);
    return { returnedMs, firstCompleteMs, failed, sent };
  } finally {
    clearInterval(hold);
    await stack.down();
    if (plain) rmSync(plain.dir, { recursive: true, force: true });
  }
}

export default defineLesson<Size, Input>({
  id: 't4/11-compose',
  title: 'Compose: the whole stack on one machine, started in order vs health-gated',
  workload:
    'bringing up gateway, 2 retriever shards, embedder, ingest worker, Redis, NATS (JetStream), PostgreSQL and Prometheus; ' +
    'simulated (virtual clock, the start-up times of stack.ts, a client every 10 ms from "up"): plain depends_on + up -d vs health-gated; ' +
    'real (full run, Docker): deploy/compose/compose.yml vs the same file without healthchecks and conditions. Headline: requests that failed after the bring-up said "up"',
  sizes: {
    quick: { real: false, realWaitMs: 60_000 },
    full: { real: true, realWaitMs: 120_000 },
  },
  setup: async (size, ctx) => {
    const impls: Record<string, Mod> = { before: before as Mod, after };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = ex;
    let realSkip: string | undefined;
    if (!size.real) realSkip = 'the real stack runs in the full run only (npm run t4 -- --only 11-compose)';
    else if (!(await composeAvailable())) realSkip = 'Docker or docker-compose not available: apt-get install docker.io docker-compose and start dockerd';
    if (realSkip) ctx.log(`real rows skipped: ${realSkip}`);
    return { size, impls, realSkip };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'requests', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => sim(input.impls.before),
    after: (input) => sim(input.impls.after),
  },
  exercise: (input) => sim(input.impls[EXERCISE]),
  options: { iterations: 5, time: 20, warmupTime: 5, rounds: 1 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const [variant, impl] of Object.entries(input.impls)) {
      const r = await sim(impl);
      const w = r.world;
      const failed = w.queries.filter((q) => !q.ok).length;
      const v = { variant };
      if (r.error) ctx.log(`${variant}: bring-up failed in the simulation: ${r.error.message}`);
      metrics.push(
        { name: HEADLINE, value: failed, unit: 'requests', ...v, note: `of ${w.queries.length} (one every 10 virtual ms from "up" at ${r.returnedAt ?? '-'} ms to 20 s)` },
        { name: 'simulated: time to ready', value: r.allReadyAt ?? 20_000, unit: 'ms', ...v, note: `virtual ms; the longest dependency chain is ${w.criticalPathMs()} ms` },
        { name: 'simulated: started before a dependency was ready', value: w.early.length, unit: 'services', ...v, note: w.early.map((e) => `${e.service} before ${e.notReady.join('+')}`).join(', ') || 'none' },
        { name: 'simulated: failed starts', value: w.crashes, unit: 'starts', ...v, note: 'a start that found a dependency not ready: the process exits (restart: in 1 s) or answers 503' },
      );
    }
    if (!input.realSkip) {
      for (const variant of ['before', 'after'] as const) {
        ctx.log(`real stack, ${variant}: up …`);
        const r = await realBringUp(variant, input.size, ctx.log);
        const v = { variant };
        metrics.push(
          { name: 'real: up returned', value: r.returnedMs, unit: 'ms', ...v, note: variant === 'after' ? 'upStack: every container healthy' : 'docker-compose up -d returned' },
          { name: 'real: up → first complete answer', value: r.firstCompleteMs ?? input.size.realWaitMs, unit: 'ms', ...v, note: r.firstCompleteMs === undefined ? `none within ${input.size.realWaitMs / 1000} s` : 'from docker-compose up starting' },
          { name: 'real: failed requests after up', value: r.failed, unit: 'requests', ...v, note: `of ${r.sent}, one every 50 ms (open loop) from up returning until the first complete answer` },
        );
        ctx.log(`real stack, ${variant}: returned ${(r.returnedMs / 1000).toFixed(1)} s, first complete answer ${r.firstCompleteMs === undefined ? 'never' : `${(r.firstCompleteMs / 1000).toFixed(1)} s`}, ${r.failed} failed`);
      }
    }
    return { metrics };
  },
});
