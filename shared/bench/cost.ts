/**
 * `npm run bench:cost`: what cheap hostile requests cost everyone else. Starts `npm run serve` as a real process tree
 * on a free loopback port, then measures normal queries (the load generator's `uniform` workload: every query
 * distinct, so the results cache never helps) in alternating phases, each on its own fresh query stream:
 *
 *   quiet     normal queries alone
 *   hostile   the same load while other clients (a process of their own) send, all at once: metadata filters that
 *             match nothing (each query distinct), 1 MB ingests back to back (two document ids replaced in turn),
 *             deletes of ids that do not exist
 *
 * quiet, hostile, quiet, … quiet (`--rounds` hostile phases): a shared machine's speed drifts, and alternating short
 * phases spreads the drift over both kinds. It prints each phase's normal-query QPS and latency, what the hostile
 * clients got done, the CPU each process used, and the p99 of all hostile phases' normal queries against the p99 of
 * all quiet phases' (the issue's bar: within 2×).
 *
 *     npm run bench:cost -- --index .cache/idx-20k --workers 2 --duration 10 --rounds 2
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../corpus/brown.ts';
import { runLoad, type LoadResult } from '../loadtest/driver.ts';
import { brownPhraseSource, distinctPhrases, type PhraseSource } from '../loadtest/workloads.ts';
import { ensureIndex, hasIndex } from '../serve/build-index.ts';
import { descendants, ServeProcess } from '../serve/test-process.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { percentile } from '../util/stats.ts';

const USAGE = `
Usage: npm run bench:cost -- [--index <dir>] [--workers N] [--duration S] [options]

Normal-query latency with and without a stream of cheap hostile requests (filters matching nothing, 1 MB
ingests, deletes of unknown ids), against a server this command starts (npm run serve, a real process tree).

Options:
  --index <dir>            saved index to serve (default .cache/idx-brown, built from the Brown corpus if missing)
  --workers N              server workers (default 2)
  --duration S             measured seconds per phase (default 10)
  --rounds R               hostile phases, each between two quiet ones (default 2: quiet hostile quiet hostile quiet)
  --warmup S               seconds of load before each phase's measurement (default 3)
  --connections C          connections sending normal queries (default 16)
  --filter-connections F   connections sending filters that match nothing (default 8)
  --ingest-kb KB           size of each hostile ingest's text (default 1000: with JSON, just under the 1 MiB body limit)
  --hostile LIST           which hostile streams run: filters, ingests, deletes, comma-separated (default all three);
                           also long: unique 4,096-character queries on the filter connections (what in-process
                           caches hold is bounded in bytes: watch the RSS line)
  --serve-args="…"         extra flags for npm run serve, after an = sign (e.g. --serve-args="--ingest-slice-ms 1000
                           --ingest-share 1" to see ingest without slices)
  --json                   print the results as JSON on stdout
  -h, --help               show this help
`;

interface HostileCounts {
  /** CPU seconds the hostile clients' process used. */
  cpu: number;
  filters: { sent: number; statuses: Record<string, number>; latencies: number[] };
  ingests: { sent: number; statuses: Record<string, number>; latencies: number[] };
  deletes: { sent: number; statuses: Record<string, number>; latencies: number[] };
  long: { sent: number; statuses: Record<string, number>; latencies: number[] };
}

interface Phase {
  name: string;
  load: LoadResult;
  hostile?: HostileCounts;
  versionBefore: number;
  versionAfter: number;
  rssMbBefore: number;
  rssMb: number;
  /** CPU seconds used during the phase: the server's primary, its workers (summed), this process (load generator). */
  cpu: { primary: number; workers: number; loadgen: number };
}

/** CPU seconds (user + system) a process has used, from /proc (0 where unreadable). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 per second on Linux)
  } catch {
    return 0;
  }
}

function treeCpu(pid: number): { primary: number; workers: number; loadgen: number } {
  const workers = descendants(pid).reduce((sum, p) => sum + cpuSeconds(p), 0);
  const self = process.cpuUsage();
  return { primary: cpuSeconds(pid), workers, loadgen: (self.user + self.system) / 1e6 };
}

function rssMb(pid: number): number {
  let kb = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const m = status.match(/VmRSS:\s+(\d+)/);
      if (m) kb += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kb / 1024;
}

/**
 * Runs the hostile streams in a child process of their own (this command, with --hostile-child), so their client-side
 * work never delays the load generator's clock; `stop()` ends them and resolves with what they got done.
 */
function hostileStreams(base: string, filterConnections: number, ingestKb: number, kinds: Set<string>) {
  const child = fork(fileURLToPath(import.meta.url), ['--hostile-child', base, String(filterConnections), String(ingestKb), [...kinds].join(',')], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const result = new Promise<HostileCounts>((resolve, reject) => {
    child.on('message', (m) => {
      if (typeof m === 'object' && m !== null) resolve(m as HostileCounts);
    });
    child.once('exit', (code) => reject(new Error(`hostile streams exited (${code}) without a result`)));
  });
  const started = new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    started,
    async stop(): Promise<HostileCounts> {
      child.send('stop');
      return result;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/** The child's side: the three streams, until the parent says stop; then their counts go back over IPC. */
async function runHostileChild(base: string, filterConnections: number, ingestKb: number, kinds: Set<string>): Promise<void> {
  let stopped = false;
  process.on('message', (m) => {
    if (m === 'stop') stopped = true;
  });
  const src = await brownPhraseSource();
  const bigText = await bigDocumentText(ingestKb * 1024);
  process.send!('started');
  const cpu0 = process.cpuUsage();
  const counts: HostileCounts = {
    cpu: 0,
    filters: { sent: 0, statuses: {}, latencies: [] },
    ingests: { sent: 0, statuses: {}, latencies: [] },
    deletes: { sent: 0, statuses: {}, latencies: [] },
    long: { sent: 0, statuses: {}, latencies: [] },
  };
  // undici's request on keep-alive connections: a fraction of fetch's client-side CPU, which shares the machine
  const pool = new Pool(base, { connections: filterConnections + 2 });
  const send = async (c: HostileCounts['filters'], init: { path: string; method: 'POST' | 'DELETE'; headers?: Record<string, string>; body?: string }) => {
    const t0 = performance.now();
    c.sent++;
    let status = 'error';
    try {
      const res = await pool.request(init);
      await res.body.dump();
      status = String(res.statusCode);
    } catch {
      // counted as an error
    }
    c.statuses[status] = (c.statuses[status] ?? 0) + 1;
    c.latencies.push(performance.now() - t0);
  };
  const json = { 'content-type': 'application/json' };
  const phrases = distinctPhrases(src, 987_654);
  let n = 0;
  const loops: Promise<void>[] = [];
  for (let i = 0; kinds.has('filters') && i < filterConnections; i++) {
    loops.push(
      (async () => {
        while (!stopped) {
          const query = phrases.next().value as string;
          await send(counts.filters, { path: '/v1/query', method: 'POST', headers: json, body: JSON.stringify({ query, k: 10, filter: { genre: `no-such-genre-${n++}` } }) });
        }
      })(),
    );
  }
  for (let i = 0; kinds.has('long') && i < filterConnections; i++) {
    loops.push(
      (async () => {
        while (!stopped) {
          let query = `${n++}`;
          while (query.length < 4096) query += ` ${phrases.next().value as string}`;
          await send(counts.long, { path: '/v1/query', method: 'POST', headers: json, body: JSON.stringify({ query: query.slice(0, 4096), k: 10 }) });
        }
      })(),
    );
  }
  if (kinds.has('ingests')) {
    loops.push(
      (async () => {
        for (let i = 0; !stopped; i++) {
          const body = JSON.stringify({ documents: [{ id: `bench-cost/big-${i % 2}`, title: 'cost bench', text: bigText, metadata: { genre: 'bench' } }] });
          await send(counts.ingests, { path: '/v1/documents', method: 'POST', headers: json, body });
        }
      })(),
    );
  }
  if (kinds.has('deletes')) {
    loops.push(
      (async () => {
        for (let i = 0; !stopped; i++) {
          await send(counts.deletes, { path: `/v1/documents/${encodeURIComponent(`bench-cost/no-such-doc-${i}`)}`, method: 'DELETE' });
        }
      })(),
    );
  }
  await Promise.all(loops);
  await pool.close();
  const used = process.cpuUsage(cpu0);
  counts.cpu = (used.user + used.system) / 1e6;
  process.send!(counts, () => process.exit(0));
}

/** Brown text of at most `bytes` bytes once in a JSON ingest body. */
async function bigDocumentText(bytes: number): Promise<string> {
  const docs = await loadBrown();
  let text = '';
  for (const d of docs) {
    const next = `${text}${d.text}\n\n`;
    if (JSON.stringify(next).length > bytes - 200) break;
    text = next;
  }
  return text;
}

async function version(base: string): Promise<number> {
  const res = await fetch(`${base}/readyz`);
  const body = (await res.json()) as { version?: number };
  return body.version ?? NaN;
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');

if (process.argv[2] === '--hostile-child') {
  const [base, filterConnections, ingestKb, kinds] = process.argv.slice(3);
  runMain(() => runHostileChild(base, Number(filterConnections), Number(ingestKb), new Set(kinds.split(','))));
} else runMain(async () => {
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    workers: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'filter-connections': { type: 'string' },
    'ingest-kb': { type: 'string' },
    'serve-args': { type: 'string' },
    hostile: { type: 'string' },
    json: { type: 'boolean' },
  });
  const posInt = (n: number) => Number.isInteger(n) && n > 0;
  const workers = numberFlag('workers', values.workers, 2, posInt);
  const duration = numberFlag('duration', values.duration, 10, (n) => n > 0 && n <= 600);
  const rounds = numberFlag('rounds', values.rounds, 2, (n) => Number.isInteger(n) && n > 0 && n <= 20);
  const warmup = numberFlag('warmup', values.warmup, 3, (n) => n >= 0 && n <= 120);
  const connections = numberFlag('connections', values.connections, 16, (n) => posInt(n) && n <= 1024);
  const filterConnections = numberFlag('filter-connections', values['filter-connections'], 8, (n) => Number.isInteger(n) && n >= 0 && n <= 256);
  const ingestKb = numberFlag('ingest-kb', values['ingest-kb'], 1000, (n) => n > 0 && n <= 1023);
  const kinds = new Set((values.hostile ?? 'filters,ingests,deletes').split(',').map((k) => k.trim()));
  for (const k of kinds) if (!['filters', 'ingests', 'deletes', 'long'].includes(k)) fail(`--hostile ${k}: expected filters, ingests, deletes or long`);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const indexDir = resolve(values.index ?? `${REPO_ROOT}/.cache/idx-brown`);
  if (values.index !== undefined && !hasIndex(indexDir)) fail(`no saved index in ${values.index}; build one with npm run index -- --out ${values.index}`);
  if (values.index === undefined) await ensureIndex(indexDir, { log });

  const dataDir = await mkdtemp(join(tmpdir(), 'rag-bench-cost-'));
  const extra = values['serve-args'] ? values['serve-args'].split(/\s+/).filter(Boolean) : [];
  const server = new ServeProcess(['--index', indexDir, '--workers', String(workers), '--data-dir', join(dataDir, 'data'), ...extra]);
  const stopServer = () => {
    if (server.running) for (const pid of [server.child.pid!, ...descendants(server.child.pid!)]) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  };
  let killHostile: (() => void) | undefined;
  process.once('SIGINT', () => (killHostile?.(), stopServer(), process.exit(130)));
  try {
    log(`starting npm run serve -- --index ${indexDir} --workers ${workers} ${extra.join(' ')}`);
    await server.start();
    await server.waitServing(300_000);
    log(`serving on ${server.base}`);
    const src = await brownPhraseSource();
    const bigText = await bigDocumentText(ingestKb * 1024);
    log(`hostile ingest: ${(JSON.stringify(bigText).length / 1024).toFixed(0)} KB of text per request`);

    const phases: Phase[] = [];
    const plan = Array.from({ length: 2 * rounds + 1 }, (_, i) => (i % 2 === 0 ? 'quiet' : 'hostile'));
    for (const [i, name] of plan.entries()) {
      log(`phase ${i + 1}/${plan.length}: ${name}`);
      const versionBefore = await version(server.base);
      const cpu0 = treeCpu(server.child.pid!);
      const rssMbBefore = rssMb(server.child.pid!);
      const hostile = name === 'hostile' ? hostileStreams(server.base, filterConnections, ingestKb, kinds) : undefined;
      killHostile = hostile?.kill;
      await hostile?.started;
      const load = await runLoad({
        url: server.base,
        workload: 'uniform',
        duration,
        warmup,
        connections,
        maxQps: 4000,
        src,
        stream: { seed: 4242 + i },
        log,
      });
      const counts = await hostile?.stop();
      const cpu1 = treeCpu(server.child.pid!);
      const cpu = { primary: cpu1.primary - cpu0.primary, workers: cpu1.workers - cpu0.workers, loadgen: cpu1.loadgen - cpu0.loadgen };
      phases.push({ name, load, hostile: counts, versionBefore, versionAfter: await version(server.base), rssMbBefore, rssMb: rssMb(server.child.pid!), cpu });
      const p = phases.at(-1)!;
      log(`  normal queries: ${load.qps.toFixed(0)} QPS, p50 ${ms(load.latency.p50)} ms, p99 ${ms(load.latency.p99)} ms, non-2xx ${load.non2xx}${load.non2xx ? ` ${JSON.stringify(load.statusCodes)}` : ''}, errors ${load.errors}`);
      if (counts) {
        for (const kind of ['filters', 'ingests', 'deletes', 'long'] as const) {
          const c = counts[kind];
          if (c.sent === 0) continue;
          const sorted = Float64Array.from(c.latencies).sort();
          log(`  hostile ${kind}: ${c.sent} sent ${JSON.stringify(c.statuses)}, p50 ${ms(percentile(sorted, 50))} ms, p99 ${ms(percentile(sorted, 99))} ms`);
        }
      }
      log(`  index version ${p.versionBefore} → ${p.versionAfter}; server RSS ${p.rssMbBefore.toFixed(0)} → ${p.rssMb.toFixed(0)} MB`);
      log(`  CPU s: primary ${cpu.primary.toFixed(1)}, workers ${cpu.workers.toFixed(1)}, load generator ${cpu.loadgen.toFixed(1)}${counts ? `, hostile clients ${counts.cpu.toFixed(1)}` : ''}`);
    }
    const pooled = (kind: string) => {
      const all = phases.filter((p) => p.name === kind).flatMap((p) => Array.from(p.load.samples ?? []));
      return Float64Array.from(all).sort();
    };
    const quiet = pooled('quiet');
    const loud = pooled('hostile');
    const quietP99 = percentile(quiet, 99);
    const ratio = percentile(loud, 99) / quietP99;
    log('');
    log('| phase | QPS | p50 ms | p90 ms | p99 ms | non-2xx | errors |');
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const p of phases) {
      const l = p.load.latency;
      log(`| ${p.name} | ${p.load.qps.toFixed(0)} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${p.load.non2xx} | ${p.load.errors} |`);
    }
    log(`| all quiet phases | | ${ms(percentile(quiet, 50))} | ${ms(percentile(quiet, 90))} | ${ms(quietP99)} | | |`);
    log(`| all hostile phases | | ${ms(percentile(loud, 50))} | ${ms(percentile(loud, 90))} | ${ms(percentile(loud, 99))} | | |`);
    log(`normal-query p99, hostile / quiet: ${ratio.toFixed(2)}× (${ratio <= 2 ? 'within' : 'NOT within'} 2×)`);
    if (values.json) {
      const strip = (_k: string, v: unknown) => (v instanceof Float64Array || (Array.isArray(v) && v.length > 50 && typeof v[0] === 'number') ? undefined : v);
      process.stdout.write(`${JSON.stringify({ index: indexDir, workers, duration, connections, filterConnections, ingestKb, phases, ratio }, strip, 2)}\n`);
    }
  } finally {
    killHostile?.();
    stopServer();
    await server.exit;
    await rm(dataDir, { recursive: true, force: true });
  }
});
