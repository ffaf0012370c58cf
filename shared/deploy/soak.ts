/**
 * The capstone soak (chapter T4, the learning path's days 27-28): the composed stack (deploy/compose/compose.yml,
 * shared/deploy/compose.ts) under an open-loop ramp to 70% of its measured capacity, writes beside it, and a fault
 * schedule; then a release report against the seed's targets (shared/deploy/release-report.ts).
 *
 *     npm run t4:soak -- --quick            # ~60 s of load (plus ~1-2 min to bring the stack up)
 *     npm run t4:soak -- --minutes 15       # the release run (also: npm run t4 -- --only capstone --minutes 15)
 *
 * In order:
 * 1. **Queries with reference answers**: Brown-corpus phrases answered by the monolith on the index the stack is
 *    seeded with (as t4/09 does), kept only when they stay the same as one-word write documents are added (checked
 *    every ~1/40 of the run's writes: a near tie can flip at one count and back at another), and only when the
 *    healthy stack answers them the same: an unflagged answer that differs later is then really **wrong**.
 * 2. **The stack**: `upStack({ha: true})`: compose.yml with compose.ha.yml, two gateways behind HAProxy (images from
 *    images.ts / infra-images.ts, health-gated start). The searches go to the balancer's published port; the writes
 *    through a small HTTP relay in this process that adds the run's write key.
 * 3. **Capacity** (`--capacity QPS` skips it): a closed-loop step load on /v1/query (1, 2, 4, 8… clients, a few
 *    seconds each, until the rate stops growing); the best answered rate whose p99 stayed under 200 ms.
 * 4. **The soak**: an open-loop ramp from 10% to 70% of capacity over the first fifth of the run, then held; one
 *    write every 1/`--write-rate` s (fault-run.ts `ingestLoad`, retried with its Idempotency-Key); faults at fixed
 *    fractions of the run: shard-1 killed (kill -9 of its process from the host: a crash, Docker's restart policy
 *    brings it back; `docker kill` + `docker start` where that is not possible), Redis restarted (`docker restart`),
 *    the two gateways rolled one after the other (`docker stop` with its grace period, then `docker start`, the second
 *    once the first is healthy).
 * 5. **The report**: every search judged by fault-run.ts `classifyAnswer`, per fault `summarizeFaults` /
 *    `summarizeWriteFaults`, the writes by `accountWrites` (the shards asked, through the gateway, for each
 *    write's own word), Prometheus' `ALERTS` over the run (the stack's Prometheus loads deploy/prometheus/rules);
 *    each distinct wrong answer replayed on the monolith (`explainWrong`: is it the monolith's own answer at some
 *    count of the run's writes?); written to reports/<current run>/release.json and RELEASE.md, and printed (`npm
 *    run report` shows it too).
 *
 * Needs Docker and docker-compose (see compose.ts). Everything started is torn down at the end, on failure and on
 * Ctrl-C.
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request as undiciRequest } from 'undici';
import { loadEngine } from '../engine.ts';
import { collectEnv, gitState, makeRunId } from '../lab/env.ts';
import { currentRun, reportsDir, RESULTS_SCHEMA, runDir, saveResults, setCurrentRun } from '../lab/results.ts';
import { brownPhraseSource, distinctPhrases } from '../loadtest/workloads.ts';
import { ensureSplitIndex } from '../services/cli-up.ts';
import { breakerFromEnv } from '../services/gateway.ts';
import { percentile } from '../util/stats.ts';
import {
  availability,
  classifyAnswer,
  ingestLoad,
  searchOnce,
  summarizeFaults,
  summarizeWriteFaults,
  type Answer,
  type RequestRecord,
  type WriteLoadReport,
} from '../services/fault-run.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { inspect, isHealthy, upStack, waitFor, type ContainerState, type Stack } from './compose.ts';
import { alertIntervals, buildRelease, TARGETS, recoveredAfterMs, renderRelease, type AlertReport, type FaultReport, type QueryRangeAnswer } from './release-report.ts';
import { docker } from './rootfs.ts';

const K = 10;
/** How long a restarted gateway is healthy before the next is stopped (`Stack.roll`; haproxy.cfg: 2 checks 500 ms apart, DNS held 1 s). */
const MIN_READY_MS = 5_000;

export interface SoakOptions {
  /** Length of the load, ms (ramp included). */
  durationMs: number;
  /** Share of the run spent ramping from 10% to the held rate. Default 0.2. */
  rampShare?: number;
  /** The held rate as a share of capacity. Default 0.7. */
  loadShare?: number;
  /** Known capacity (QPS): skips the measurement. */
  capacity?: number;
  /** Closed-loop step length, ms. */
  stepMs: number;
  /** Writes per second beside the searches. */
  writeRate: number;
  /** Report window, ms. */
  windowMs: number;
  /** Distinct queries. */
  queries: number;
  /** Faults at these fractions of the run: shard kill, Redis restart, gateway roll. */
  faultsAt: { shard: number; redis: number; gateway: number };
  /** The gateways' circuit breakers (RAG_GATEWAY_BREAKER: off, on or JSON). Default off. */
  breaker?: string;
  /** After the load: how long unsettled writes keep retrying. */
  settleMs: number;
  command: string;
  log: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------------------------------
// The write relay (the write load of fault-run.ts sends no key)

interface Relay {
  url: string;
  close(): Promise<void>;
}

/** An HTTP relay to `url` that adds `authorization: Bearer <key>` (the write load of fault-run.ts sends none). */
async function authRelay(url: string, key: string): Promise<Relay> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${key}` };
      for (const h of ['content-type', 'idempotency-key', 'x-request-timeout-ms']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
      const r = await undiciRequest(`${url}${req.url ?? '/'}`, {
        method: (req.method ?? 'GET') as 'POST',
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        signal: ac.signal,
      });
      const body = Buffer.from(await r.body.arrayBuffer());
      res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') });
      res.end(body);
    } catch {
      // no answer from the gateway: the client sees what it would have seen (a reset), an unknown outcome
      req.socket.destroy();
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Searches

interface Query {
  text: string;
  expected?: readonly string[];
}

const search = (pool: Pool, q: Query, timeoutMs = 5_000): Promise<Answer> => searchOnce(pool, { query: q.text, k: K }, timeoutMs);

const sameIds = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The one-word document the reference adds as the i-th write (the stack's writes are the same shape: `doc` in `soak`). */
const referenceDoc = (i: number) => ({ id: `soak/reference/${i}`, text: `qzxreferencew${i}` });

/**
 * Reference answers: the monolith on the seed index, kept only when they stay the same while `extraDocs` one-word
 * documents are added, checked every `every` documents. Every write changes the collection's statistics (N, the
 * average length), and a near tie in a top 10 can flip at one count and flip back at a later one: checking only the
 * two ends let such a query through (2 of 191 in a trial of 400 phrases checked at 10 counts).
 */
async function referenceQueries(index: string, n: number, extraDocs: number, every: number, log: (l: string) => void): Promise<Query[]> {
  const engine = await loadEngine(index, { llm: null });
  const gen = distinctPhrases(await brownPhraseSource(), 27);
  let kept: Query[] = [];
  for (let i = 0; i < 2 * n; i++) {
    const text = gen.next().value as string;
    kept.push({ text, expected: (await engine.query(text, { k: K, answer: false })).hits.map((h) => h.chunkId) });
  }
  const candidates = kept.length;
  for (let added = 0; added < extraDocs; ) {
    const next = Math.min(extraDocs, added + every);
    await engine.ingest(Array.from({ length: next - added }, (_, j) => referenceDoc(added + j)));
    added = next;
    const still: Query[] = [];
    for (const q of kept) if (sameIds(q.expected!, (await engine.query(q.text, { k: K, answer: false })).hits.map((h) => h.chunkId))) still.push(q);
    kept = still;
  }
  log(`queries: ${Math.min(n, kept.length)} of ${candidates} candidates answer the same after every ${every} of ${extraDocs} one-word documents added`);
  return kept.slice(0, n);
}

/** A wrong answer's query and what the stack answered (the first time), with how often it was wrong. */
export interface WrongAnswer {
  query: string;
  got: string[];
  expected: string[];
  times: number;
  firstAtS: number;
  /** With how many written documents the monolith answers `got` (the first such count), if at any up to the run's. */
  monolithAtDocs?: number;
}

/**
 * Whether each wrong answer is one the monolith gives at some point of the run: the seed index, then the run's
 * writes added one at a time (as one-word documents, as written), asking each wrong query after every one. An
 * answer the monolith also gives is the stack answering from another moment's statistics (a near tie that flips
 * with the collection's size): not a defect of the split. One it never gives is.
 */
async function explainWrong(index: string, wrong: WrongAnswer[], writes: number, log: (l: string) => void): Promise<void> {
  if (wrong.length === 0) return;
  const engine = await loadEngine(index, { llm: null });
  const check = async (added: number) => {
    for (const w of wrong) {
      if (w.monolithAtDocs !== undefined) continue;
      if (sameIds(w.got, (await engine.query(w.query, { k: K, answer: false })).hits.map((h) => h.chunkId))) w.monolithAtDocs = added;
    }
  };
  await check(0);
  for (let i = 0; i < writes && wrong.some((w) => w.monolithAtDocs === undefined); i++) {
    await engine.ingest([referenceDoc(i)]);
    await check(i + 1);
  }
  const explained = wrong.filter((w) => w.monolithAtDocs !== undefined).length;
  log(`wrong answers: ${explained} of ${wrong.length} distinct ones are the monolith's own answer at some count of the run's ${writes} writes`);
}

/**
 * The stack's capacity at the latency target: a closed-loop step load (`c` clients, each sending the next search when
 * the last came back; c = 1, 2, 4, … 64), and the best answered rate of a step whose p99 stayed under the target
 * (TARGETS.p99Ms). Not the peak: a closed loop at its peak queues every client behind the others (64 clients at 238
 * QPS wait ~270 ms each), and an open-loop load at 70% of that peak fell over here within a minute. Stops once the
 * rate stops growing or p99 is past twice the target. No step within the target: the 1-client rate, said so.
 */
async function measureCapacity(url: string, queries: readonly Query[], stepMs: number, log: (l: string) => void): Promise<{ qps: number; how: string }> {
  let best: { qps: number; c: number } | undefined;
  let first: { qps: number; c: number } | undefined;
  let peak = 0;
  const steps: string[] = [];
  let i = 0;
  for (const c of [1, 2, 4, 8, 16, 32, 64]) {
    const pool = new Pool(url, { connections: c });
    const ms: number[] = [];
    let n = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (performance.now() - t0 < stepMs) {
          const started = performance.now();
          const a = await search(pool, queries[i++ % queries.length]);
          n++;
          if (a.status === 200) ms.push(performance.now() - started);
        }
      }),
    );
    const qps = ms.length / ((performance.now() - t0) / 1000);
    await pool.close();
    const p99 = ms.length ? percentile(Float64Array.from(ms).sort(), 99) : Infinity;
    steps.push(`${c}: ${qps.toFixed(0)} QPS at p99 ${p99.toFixed(0)} ms`);
    log(`capacity: ${c} clients → ${qps.toFixed(0)} answered QPS, p99 ${p99.toFixed(0)} ms (${n - ms.length} not 200)`);
    first ??= { qps, c };
    if (p99 <= TARGETS.p99Ms && qps > (best?.qps ?? 0)) best = { qps, c };
    const growing = qps > peak * 1.05;
    peak = Math.max(peak, qps);
    if (!growing || p99 > 2 * TARGETS.p99Ms) break;
  }
  const at = best ?? first!;
  const why = best ? `the best with p99 ≤ ${TARGETS.p99Ms} ms: ${at.c} clients` : `no step kept p99 ≤ ${TARGETS.p99Ms} ms: the 1-client rate`;
  return { qps: at.qps, how: `closed loop on /v1/query by clients (${steps.join('; ')}); ${why}` };
}

// ---------------------------------------------------------------------------------------------------------------------

export interface SoakResult {
  markdown: string;
  json: ReturnType<typeof buildRelease> & { wrongAnswers: WrongAnswer[] };
  dir: string;
}

export async function soak(opts: SoakOptions): Promise<SoakResult> {
  const { log } = opts;
  const startedAt = new Date().toISOString();
  const tag = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const index = await ensureSplitIndex(undefined, log);
  const extra = Math.ceil(2 * opts.writeRate * ((opts.durationMs + opts.settleMs) / 1000)) + 10;
  const every = Math.max(1, Math.ceil(extra / 40));
  let queries = await referenceQueries(index, opts.queries, extra, every, log);
  const stack: Stack = await upStack({ log, project: `ragsoak-${tag}`, ha: true, breaker: opts.breaker });
  let writeRelay: Relay | undefined;
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log('interrupted: tearing the stack down');
    void Promise.resolve(writeRelay?.close())
      .then(() => stack.down())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // the searches go to the balancer directly; the writes through a relay that adds the key
    const apiUrl = stack.url;
    writeRelay = await authRelay(apiUrl, stack.writeKey);

    // the queries the healthy stack answers as the monolith does (anything else would be judged "wrong" for nothing)
    const warm = new Pool(apiUrl, { connections: 4 });
    const agreeing: Query[] = [];
    for (const q of queries) if (classifyAnswer(await search(warm, q), q.expected) === 'complete') agreeing.push(q);
    await warm.close();
    if (agreeing.length < Math.min(10, queries.length)) {
      log(`only ${agreeing.length} of ${queries.length} queries answered as the monolith does: judging answers without references (no "wrong")`);
      queries = queries.map((q) => ({ text: q.text }));
    } else {
      if (agreeing.length < queries.length) log(`${queries.length - agreeing.length} queries left out: the stack's answer differs from the monolith's before any fault`);
      queries = agreeing;
    }
    const marker = (i: number | string) => `qzx${tag}w${i}`;
    const doc = (i: number | string) => ({ id: `soak/${tag}/${i}`, text: marker(i) });
    const warmWrite = await fetch(`${writeRelay.url}/v1/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ documents: [doc('warm')] }), signal: AbortSignal.timeout(30_000) });
    if (warmWrite.status !== 200) throw new Error(`the warm-up write was not acknowledged: ${warmWrite.status} ${await warmWrite.text()}`);

    const capT0 = Date.now();
    const capacity = opts.capacity !== undefined ? { qps: opts.capacity, how: 'given (--capacity)' } : await measureCapacity(apiUrl, queries, opts.stepMs, log);
    if (!(capacity.qps > 0)) throw new Error('capacity: no search was answered');
    const loadShare = opts.loadShare ?? 0.7;
    const target = capacity.qps * loadShare;
    const rampMs = opts.durationMs * (opts.rampShare ?? 0.2);
    log(`soak: ramp to ${target.toFixed(0)} QPS (${loadShare * 100}% of ${capacity.qps.toFixed(0)}) over ${(rampMs / 1000).toFixed(0)} s, ${(opts.durationMs / 1000).toFixed(0)} s in all, ${opts.writeRate} writes/s`);

    // the held check: each write's own word searched through the gateway (BM25); partial or failed: unknown
    const held = async (ids: string[]): Promise<(boolean | undefined)[]> => {
      const pool = new Pool(apiUrl, { connections: 8 });
      const out: (boolean | undefined)[] = new Array(ids.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < ids.length) {
            const i = next++;
            const word = marker(ids[i].split('/').pop()!);
            const a = await searchOnce(pool, { query: word, k: 3, mode: 'bm25' }, 10_000);
            const body = (a.body ?? {}) as { hits?: { docId: string }[]; partial?: boolean };
            out[i] = a.status !== 200 ? undefined : (body.hits ?? []).some((h) => h.docId === ids[i]) ? true : body.partial ? undefined : false;
          }
        }),
      );
      await pool.close();
      return out;
    };
    const writeLoad = ingestLoad({ url: writeRelay.url, rate: opts.writeRate, doc, key: (i) => `soak-${tag}-${i}`, held, settleMs: opts.settleMs, attemptTimeoutMs: 6_000, log });

    // the faults: each acts at a fixed share of the run; its time is the moment it acted (`acted`), its recovery in
    // Docker (`done.healthyAfterMs`) the time from then to the container healthy again
    // the containers are looked up before the run: a fault acts at once
    const ids = { shard: await stack.container('shard-1'), redis: await stack.container('redis') };
    let loadT0 = performance.now();
    type Done = { how: string; healthyAfterMs: number | undefined };
    const fault = (name: string, share: number, run: (acted: () => void, t0: number) => Promise<Done>) => {
      const f: { name: string; atMs: number; done?: Done; inject(): Promise<void> } = {
        name,
        atMs: opts.durationMs * share,
        inject: async () => {
          f.done = await run(() => {
            f.atMs = performance.now() - loadT0;
          }, performance.now());
        },
      };
      return f;
    };
    const faults = [
      fault('kill shard-1', opts.faultsAt.shard, async (acted, t0) => {
        const before = await inspect(ids.shard);
        const restarted = (s: ContainerState) => s.status === 'running' && s.pid > 0 && s.pid !== before.pid;
        let killed = false;
        if (before.pid > 0 && process.getuid?.() === 0) {
          // a crash: kill -9 of the service's process from the host; Docker's restart policy brings it back
          try {
            process.kill(before.pid, 'SIGKILL');
            killed = true;
          } catch {
            /* not ours to kill: docker kill below */
          }
        }
        acted();
        if (killed && (await waitFor(ids.shard, (s) => s.restarts > before.restarts || restarted(s), 10_000, t0)) !== undefined) {
          return { how: 'kill -9 of its process from the host; Docker restarted it', healthyAfterMs: await waitFor(ids.shard, (s) => isHealthy(s) && restarted(s), 120_000, t0) };
        }
        await docker(['kill', ids.shard], { allowFail: true });
        await docker(['start', ids.shard]);
        return { how: '`docker kill` + `docker start`', healthyAfterMs: await waitFor(ids.shard, (s) => isHealthy(s) && restarted(s), 120_000, t0) };
      }),
      fault('restart Redis', opts.faultsAt.redis, async (acted, t0) => {
        acted();
        await docker(['restart', '-t', '1', ids.redis]);
        return { how: '`docker restart -t 1`: the queue is in memory, its jobs are gone', healthyAfterMs: await waitFor(ids.redis, isHealthy, 60_000, t0) };
      }),
      fault('roll the gateways', opts.faultsAt.gateway, async (acted) => {
        acted();
        return {
          how: `\`docker stop -t 10\` + \`docker start\` of one gateway, then of the other once the first has been healthy for ${MIN_READY_MS / 1000} s; SIGTERM turns /readyz 503 for 2 s before the drain, and HAProxy sends the queries to the other`,
          // from the first stop to the last gateway healthy again (the roll's whole length)
          healthyAfterMs: await stack.roll('gateway', { graceS: 10, minReadyMs: MIN_READY_MS }),
        };
      }),
    ];

    // every distinct wrong answer (query and what came back), for explainWrong after the run
    const wrong = new Map<string, WrongAnswer>();
    const noteWrong = (q: Query, a: Answer, atMs: number) => {
      const got = (a.body?.hits ?? []).map((h) => h.chunkId);
      const key = `${q.text}\u0000${got.join(',')}`;
      const w = wrong.get(key) ?? { query: q.text, got, expected: [...(q.expected ?? [])], times: 0, firstAtS: Math.round(atMs / 100) / 10 };
      w.times++;
      wrong.set(key, w);
    };

    // the open-loop ramp: search i is due when the integral of the rate reaches i
    const pool = new Pool(apiUrl, { connections: 128 });
    const records: RequestRecord[] = [];
    const inFlight = new Set<Promise<void>>();
    const injected: Promise<void>[] = [];
    const timers: NodeJS.Timeout[] = [];
    const due = (t: number) => {
      const r0 = 0.1 * target;
      if (t <= rampMs) return r0 * (t / 1000) + ((target - r0) * (t / 1000) ** 2) / (2 * (rampMs / 1000));
      return r0 * (rampMs / 1000) + ((target - r0) * (rampMs / 1000)) / 2 + target * ((t - rampMs) / 1000);
    };
    const loadT0Unix = Date.now();
    const t0 = performance.now();
    loadT0 = t0;
    let writes: WriteLoadReport | undefined;
    try {
      writeLoad.start();
      for (const f of faults) {
        timers.push(
          setTimeout(() => {
            log(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${f.name}`);
            injected.push(f.inject().catch((err: Error) => log(`${f.name} failed: ${err.message}`)));
          }, f.atMs),
        );
      }
      let sent = 0;
      let lastLog = 0;
      await new Promise<void>((resolve) => {
        const tick = setInterval(() => {
          const now = performance.now() - t0;
          const until = Math.floor(due(Math.min(now, opts.durationMs)));
          while (sent < until) {
            const q = queries[sent % queries.length];
            const at = now;
            sent++;
            const started = performance.now();
            const p = search(pool, q).then((a) => {
              const outcome = classifyAnswer(a, q.expected);
              records.push({ at, ms: performance.now() - started, status: a.status, outcome });
              if (outcome === 'wrong') noteWrong(q, a, at);
            });
            inFlight.add(p);
            p.finally(() => inFlight.delete(p));
          }
          if (now - lastLog >= 10_000) {
            lastLog = now;
            const recent = records.filter((r) => r.at >= now - 10_000);
            const failed = recent.filter((r) => r.outcome === 'failed');
            const byStatus = [...new Set(failed.map((r) => r.status))].map((st) => `${failed.filter((r) => r.status === st).length}× ${st === 0 ? 'no answer' : st}`).join(', ');
            log(`${(now / 1000).toFixed(0)} s: ${sent} sent, ${inFlight.size} in flight, last 10 s: ${failed.length} failed${byStatus ? ` (${byStatus})` : ''}, ${recent.filter((r) => r.outcome === 'flagged').length} flagged`);
          }
          if (now >= opts.durationMs) {
            clearInterval(tick);
            resolve();
          }
        }, 5);
      });
      await Promise.all([...inFlight]);
      await Promise.all(injected);
      log(`load done: ${records.length} searches; settling the writes (up to ${opts.settleMs / 1000} s) and checking which the shards hold`);
      writes = await writeLoad.stop();
    } finally {
      for (const t of timers) clearTimeout(t);
      if (!writes) await writeLoad.stop().catch(() => {});
      await pool.close();
    }
    records.sort((a, b) => a.at - b.at);
    if (!writes) throw new Error('the write load gave no report');

    // alerts over the run (capacity steps included: negative times), one Prometheus evaluation after the end
    await new Promise((r) => setTimeout(r, 6_000));
    const stepS = 5;
    let alerts: AlertReport[] | { error: string };
    try {
      const qs = new URLSearchParams({ query: 'ALERTS', start: String(capT0 / 1000), end: String(Date.now() / 1000), step: String(stepS) });
      const ans = (await (await fetch(`${stack.prometheusUrl}/api/v1/query_range?${qs}`, { signal: AbortSignal.timeout(10_000) })).json()) as QueryRangeAnswer;
      alerts = alertIntervals(ans, stepS, loadT0Unix / 1000);
      const rules = (await (await fetch(`${stack.prometheusUrl}/api/v1/rules`)).json()) as { data?: { groups?: { rules: unknown[] }[] } };
      const n = (rules.data?.groups ?? []).reduce((s, g) => s + g.rules.length, 0);
      if (n === 0) alerts = { error: 'the stack\'s Prometheus has no rules loaded (deploy/compose/prometheus.yml rule_files)' };
      else log(`Prometheus: ${n} rules loaded, ${Array.isArray(alerts) ? alerts.length : 0} alert series during the run`);
    } catch (err) {
      alerts = { error: (err as Error).message };
    }

    const faultSummaries = summarizeFaults(records, faults, opts.durationMs);
    const writeFaults = writes.attempts ? summarizeWriteFaults(writes.attempts, faults, opts.durationMs) : undefined;
    const done = (name: string) => faults.find((x) => x.name === name)?.done;
    const faultReports: FaultReport[] = faultSummaries.map((f) => {
      const w = writeFaults?.find((x) => x.name === f.name);
      const { name: _n, atMs: _a, ...wRest } = w ?? ({} as NonNullable<typeof w>);
      return { ...f, recoveredAfterMs: recoveredAfterMs(records, f, faultSummaries), containerHealthyAfterMs: done(f.name)?.healthyAfterMs, how: done(f.name)?.how, ...(w ? { writes: wRest } : {}) };
    });
    // the wrong answers: the monolith's own at some moment of the run (statistics), or a defect
    const wrongList = [...wrong.values()];
    await explainWrong(index, wrongList, writes.jobs + 1, log);
    const unexplained = wrongList.filter((w) => w.monolithAtDocs === undefined);
    const notes = [
      `The load generator (this process) runs on the same ${os.cpus().length} cores as the whole stack: the capacity and the latencies are this machine's, not a production figure.`,
      `Latency is measured by the client from the moment a search was due (open loop): time queued in the client when the stack falls behind counts.`,
      `The gateways' circuit breakers: ${opts.breaker && opts.breaker !== 'off' ? `on (RAG_GATEWAY_BREAKER=${opts.breaker})` : 'off (the default; --breaker on to try them)'}.`,
      opts.durationMs < 15 * 60_000
        ? `The alert rules' \`for:\` clauses (1 to 10 minutes) are longer than a ${Math.round(opts.durationMs / 1000)} s run's faults: most show as pending, if at all; the 5-minute rates start from nothing.`
        : `The alert rules' \`for:\` clauses are 1 to 10 minutes: a fault shorter than its alert's clause shows as pending only, as it should.`,
      `Queries are judged against the monolith's answers on the same index (t4/09's method), kept only when those stay the same after every ${every} of up to ${extra} written documents: "wrong" = an unflagged answer that differs.`,
      wrongList.length === 0
        ? 'No answer was wrong.'
        : `${wrongList.reduce((n, w) => n + w.times, 0)} wrong answers, ${wrongList.length} distinct (query, answer) pairs: ${wrongList.length - unexplained.length} are the monolith's own answer with some count of the run's written documents (the collection's statistics at another moment flip a near tie: not a defect of the split)${unexplained.length ? `; **${unexplained.length} the monolith never gives: a defect** (${unexplained.map((w) => `"${w.query}" ${w.times}×`).join(', ')})` : ''}.`,
    ];
    const release = buildRelease({
      command: opts.command,
      startedAt,
      capacity: { qps: Math.round(capacity.qps), how: capacity.how },
      targetQps: Math.round(target),
      rampMs,
      durationMs: opts.durationMs,
      windowMs: opts.windowMs,
      records,
      availability: availability(records.map((r) => r.outcome)),
      faults: faultReports,
      writes,
      alerts,
      notes,
      machine: `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), load average ${os.loadavg()[0].toFixed(1)} at the end`,
    });
    const json = { ...release, wrongAnswers: wrongList };
    const markdown = renderRelease(json);
    const dirRoot = reportsDir();
    let runId = currentRun(dirRoot);
    if (runId === undefined) {
      // no run yet: start one (its results.json holds no lesson) so that `npm run report` finds the release in it
      const now = new Date();
      runId = makeRunId(now, gitState(REPO_ROOT).commit);
      saveResults(dirRoot, { schema: RESULTS_SCHEMA, runId, env: collectEnv(REPO_ROOT, 'full', now), lessons: [] });
      setCurrentRun(dirRoot, runId);
    }
    const dir = runDir(dirRoot, runId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'release.json'), JSON.stringify(json, null, 2) + '\n');
    writeFileSync(path.join(dir, 'RELEASE.md'), markdown);
    return { markdown, json, dir };
  } finally {
    await writeRelay?.close().catch(() => {});
    if (!stopping) await stack.down();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const HELP = `Usage: npm run t4:soak -- [options]      (or: npm run t4 -- --only capstone [options])

The capstone soak: brings up the composed stack (deploy/compose/compose.yml + compose.ha.yml: two gateways behind
HAProxy), measures its capacity with a closed-loop step load, runs an open-loop ramp to 70% of it with writes beside
it and a fault schedule (kill shard-1, restart Redis, roll the gateways), then writes a release report (availability, p50/p99 per minute and overall against
P99 < 200 ms, > 1000 QPS, 99.9%; time to healthy per fault; acknowledged writes lost; jobs lost; alerts fired) to
reports/<current run>/release.json and RELEASE.md, and prints it.

  --minutes N        length of the load (default 3)
  --quick            60 s of load, 15 s windows, shorter capacity steps (~3 min in all with the stack's start)
  --capacity QPS     skip the capacity measurement, use this
  --write-rate N     writes per second beside the searches (default 2)
  --load-share X     the held rate as a share of capacity (default 0.7)
  --breaker B        the gateways' circuit breakers: off (default), on, or JSON {consecutiveFailures, halfOpenAfterMs}
  -h, --help         this text

Needs Docker (dockerd running) and docker-compose; the images are built (and cached) by shared/deploy/images.ts.`;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const fail = (m: string, code = 2): never => {
    process.stderr.write(`error: ${m}\n`);
    process.exit(code);
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        minutes: { type: 'string' },
        quick: { type: 'boolean' },
        capacity: { type: 'string' },
        'write-rate': { type: 'string' },
        'load-share': { type: 'string' },
        breaker: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message} (--help)`);
  }
  if (values!.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const num = (name: string, min: number, max: number): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max} (got "${v}")`);
    return n;
  };
  const breakerArg = (v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    try {
      breakerFromEnv(v);
    } catch (err) {
      fail(`--breaker: ${(err as Error).message.replace(/^RAG_GATEWAY_BREAKER:? ?/, '')}`);
    }
    return v;
  };
  const quick = Boolean(values!.quick);
  const minutes = num('minutes', 0.5, 120);
  if (quick && minutes !== undefined) fail('--quick and --minutes: choose one');
  const durationMs = quick ? 60_000 : (minutes ?? 3) * 60_000;
  const log = (l: string) => process.stderr.write(`soak: ${l}\n`);
  soak({
    durationMs,
    capacity: num('capacity', 1, 1e6),
    loadShare: num('load-share', 0.05, 1),
    stepMs: quick ? 2_500 : 5_000,
    writeRate: num('write-rate', 0.1, 100) ?? 2,
    windowMs: quick ? 15_000 : 60_000,
    queries: quick ? 60 : 200,
    faultsAt: { shard: 0.3, redis: 0.55, gateway: 0.75 },
    breaker: breakerArg(values!.breaker as string | undefined),
    settleMs: quick ? 15_000 : 20_000,
    command: `node --import tsx shared/deploy/soak.ts ${process.argv.slice(2).join(' ')}`.trim(),
    log,
  }).then(
    (r) => {
      process.stdout.write(r.markdown);
      log(`written: ${path.relative(process.cwd(), path.join(r.dir, 'RELEASE.md'))} and release.json`);
    },
    (err: Error) => fail(err.stack ?? err.message, 1),
  );
}
