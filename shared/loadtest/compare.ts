/**
 * `npm run loadtest:compare`: one session, one corpus, one query stream, four servers in turn on 127.0.0.1:
 *
 *   rag-engine   this project's server (npm run serve, cluster of --workers workers)
 *   naive        Express + LangChain MemoryVectorStore brute force, no cache (servers/naive-express.ts)
 *   orama        Orama hybrid search in a Fastify shell (servers/orama-fastify.ts)
 *   hello        Fastify hello-world: the machine's ceiling (servers/hello-fastify.ts)
 *   hello-11k    the same route sending a constant 11 KB body, the size of a hybrid k = 10 answer: the ceiling for
 *                responses as large as ours
 *
 * Each server is started as a child process, waited for (GET /readyz), loaded with the same deterministic request
 * stream (same seed), then stopped before the next one starts, so they never compete for the two cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { renderTextTable } from '../util/table.ts';
import { writeKeys } from '../serve/auth.ts';
import { ensureIndex } from '../serve/build-index.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { formatLoad } from './format.ts';
import { DEFAULT_MAX_QPS, runLoad, type LoadResult } from './driver.ts';
import { saveLoadtest, toLesson, type NamedLoad } from './results.ts';
import { brownPhraseSource, WORKLOADS, type WorkloadName } from './workloads.ts';

const USAGE = `
Usage: npm run loadtest:compare -- [--index <dir>] [--workload W] [--duration S] [--connections C] [options]

Runs, one after the other on 127.0.0.1 and with the same query stream: this server (cluster), a naive Express +
LangChain MemoryVectorStore server, Orama hybrid search in Fastify, and a Fastify hello-world (the ceiling), once
with a tiny body and once with an 11 KB one (the size of our answers: the ceiling for responses that large). Prints
QPS, p50/p90/p99, non-2xx and errors for each, with ratios to the naive baseline and the ceiling, and merges the
results into the lab's results (lesson t4/loadtest-compare).

Options:
  --index <dir>        saved index all servers load (default .cache/idx-100k; built with --scale 100000 if missing)
  --workload W         uniform | zipf (default uniform: every query distinct, no cache help)
  --duration S         measured seconds per server (default 15)
  --warmup S           seconds of load before measuring (default 3)
  --connections C      concurrent connections (default 32)
  --max-qps Q          the rate the pre-built requests are sized for (default ${DEFAULT_MAX_QPS.uniform} for uniform,
                       ${DEFAULT_MAX_QPS.zipf} for zipf); a faster server re-sends requests and the run says so
  --workers N          worker processes for rag-engine and the hello servers (default 2)
  --peer-workers N     worker processes for naive and orama (default 1: one index build each)
  --servers LIST       comma-separated subset of rag-engine,naive,orama,hello,hello-11k (default all)
  --port P             first port to use (default 18090)
  --ready-timeout S    seconds to wait for a server to load (default 900)
  --run ID             lab run to add the results to (default: a new run id)
  --no-save            do not write results
  --json               print the results as JSON on stdout
  -h, --help           show this help
`;

/** Rate the hello servers' pre-built requests are sized for: above what they reach on the machines measured (serve README). */
const HELLO_MAX_QPS = 25_000;

const SERVERS = ['rag-engine', 'naive', 'orama', 'hello', 'hello-11k'] as const;
type ServerName = (typeof SERVERS)[number];

function command(name: ServerName, index: string, port: number, workers: number, peerWorkers: number, keysFile: string): string[] {
  const p = String(port);
  switch (name) {
    case 'rag-engine':
      // queries only: a keys file of its own with no key (no write is sent), and no read budget to run into
      return ['shared/serve/cli-serve.ts', '--index', index, '--port', p, '--workers', String(workers), '--keys-file', keysFile, '--read-rate-limit', '0'];
    case 'naive':
      return ['shared/loadtest/servers/naive-express.ts', '--index', index, '--port', p, '--workers', String(peerWorkers)];
    case 'orama':
      return ['shared/loadtest/servers/orama-fastify.ts', '--index', index, '--port', p, '--workers', String(peerWorkers)];
    case 'hello':
      return ['shared/loadtest/servers/hello-fastify.ts', '--port', p, '--workers', String(workers)];
    case 'hello-11k':
      return ['shared/loadtest/servers/hello-fastify.ts', '--port', p, '--workers', String(workers), '--body-bytes', '11000'];
  }
}

async function waitReady(url: string, child: ChildProcess, timeoutS: number): Promise<void> {
  const until = Date.now() + timeoutS * 1000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode} before it was ready`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not ready after ${timeoutS} s`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

runMain(async () => {
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    workload: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'max-qps': { type: 'string' },
    workers: { type: 'string' },
    'peer-workers': { type: 'string' },
    servers: { type: 'string' },
    port: { type: 'string' },
    'ready-timeout': { type: 'string' },
    run: { type: 'string' },
    'no-save': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const workload = (values.workload ?? 'uniform') as WorkloadName;
  if (!WORKLOADS.includes(workload) || workload === 'mixed') fail(`--workload ${workload}: expected uniform or zipf`);
  const duration = numberFlag('duration', values.duration, 15, (n) => n > 0 && n <= 600);
  const warmup = numberFlag('warmup', values.warmup, 3, (n) => n >= 0 && n <= 120);
  const connections = numberFlag('connections', values.connections, 32, (n) => Number.isInteger(n) && n > 0 && n <= 1024);
  const maxQps = values['max-qps'] === undefined ? undefined : numberFlag('max-qps', values['max-qps'], 0, (n) => n > 0 && n <= 1e6);
  const workers = numberFlag('workers', values.workers, 2, (n) => Number.isInteger(n) && n > 0 && n <= 64);
  const peerWorkers = numberFlag('peer-workers', values['peer-workers'], 1, (n) => Number.isInteger(n) && n > 0 && n <= 64);
  const firstPort = numberFlag('port', values.port, 18090, (n) => Number.isInteger(n) && n > 1024 && n < 65000);
  const readyTimeout = numberFlag('ready-timeout', values['ready-timeout'], 900, (n) => n > 0);
  const servers = (values.servers ?? SERVERS.join(',')).split(',') as ServerName[];
  for (const s of servers) if (!SERVERS.includes(s)) fail(`--servers: unknown server "${s}" (expected ${SERVERS.join(', ')})`);
  const log = (m: string) => process.stderr.write(`${m}\n`);

  const index = resolve(values.index ?? join(REPO_ROOT, '.cache/idx-100k'));
  if (servers.some((s) => !s.startsWith('hello'))) {
    log(`index: ${index}`);
    await ensureIndex(index, { scale: 100_000, log });
  }
  log('building the query log from the Brown corpus');
  const src = await brownPhraseSource();
  const logDir = join(REPO_ROOT, '.cache', 'compare-logs');
  mkdirSync(logDir, { recursive: true });
  const keysFile = join(logDir, 'keys.json');
  writeKeys(keysFile, []);

  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const runs: NamedLoad[] = [];
  for (const [i, name] of servers.entries()) {
    const port = firstPort + i;
    const url = `http://127.0.0.1:${port}`;
    const label = name === 'rag-engine' || name.startsWith('hello') ? `${name} (${workers} workers)` : peerWorkers > 1 ? `${name} (${peerWorkers} workers)` : name;
    const logFile = join(logDir, `${name}.log`);
    log(`\n${label}: starting on ${url} (log: ${logFile})`);
    const out = createWriteStream(logFile);
    const child = spawn(process.execPath, ['--import', 'tsx', ...command(name, index, port, workers, peerWorkers, keysFile)], {
      cwd: REPO_ROOT,
      env: { ...process.env, REDIS_URL: '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    try {
      const tReady = Date.now();
      await waitReady(url, child, readyTimeout);
      log(`  ready after ${((Date.now() - tReady) / 1000).toFixed(0)} s`);
      // the same stream for every server: same seed, same queries, same order
      // the hello servers answer far faster than any search: size their pre-built streams so they do not wrap
      const rate = maxQps ?? (name.startsWith('hello') ? HELLO_MAX_QPS : undefined);
      const load = await runLoad({ url, workload, duration, warmup, connections, maxQps: rate, src, stream: { seed: 7 }, log });
      log(formatLoad(label, load));
      runs.push({ name: label, load });
    } catch (err) {
      log(`  FAILED: ${(err as Error).message}`);
      runs.push({ name: label, error: (err as Error).message });
    } finally {
      await stop(child);
    }
  }

  const naive = runs.find((r) => r.name.startsWith('naive'))?.load;
  const ceiling = runs.find((r) => r.name.startsWith('hello-11k'))?.load ?? runs.find((r) => r.name.startsWith('hello'))?.load;
  const orama = runs.find((r) => r.name.startsWith('orama'))?.load;
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
  const header = ['Server', 'QPS', 'p50 ms', 'p90 ms', 'p99 ms', 'non-2xx', 'errors', '× naive QPS', '× orama QPS', '% of ceiling'];
  const rows = runs.map((r) => {
    const l = r.load;
    if (!l) return [r.name, 'failed', '', '', '', '', '', '', '', r.error ?? ''];
    return [
      r.name,
      f(l.qps, 0),
      f(l.latency.p50, 2),
      f(l.latency.p90, 2),
      f(l.latency.p99, 2),
      String(l.non2xx),
      String(l.errors),
      naive ? f(l.qps / naive.qps, 2) : '–',
      orama ? f(l.qps / orama.qps, 2) : '–',
      ceiling ? `${f((100 * l.qps) / ceiling.qps, 1)}%` : '–',
    ];
  });
  const heading = `${workload} workload · ${connections} connections · ${duration} s each (+${warmup} s warm-up) · hybrid k=10 with answer · index ${index}`;
  process.stdout.write(`\n${heading}\n${renderTextTable(header, rows)}\n`);

  if (!values['no-save']) {
    const lesson = toLesson({
      id: `t4/loadtest-compare-${workload}`,
      title: `Servers compared under load (${workload})`,
      workload: heading,
      baseline: runs.find((r) => r.name.startsWith('naive'))?.name ?? runs[0].name,
      runs,
      extraMetrics: runs.flatMap((r) =>
        r.load && naive ? [{ variant: r.name, name: 'QPS vs naive', value: r.load.qps / naive.qps, unit: '×' }] : [],
      ),
      startedAt,
      durationMs: Date.now() - t0,
    });
    const raw: Record<string, LoadResult | { error?: string }> = {};
    for (const r of runs) raw[r.name] = r.load ?? { error: r.error };
    const saved = saveLoadtest([lesson], { [`compare-${workload}`]: { heading, table: { header, rows }, servers: raw } }, values.run);
    log(`results: ${saved.file} (npm run report -- --run ${saved.runId})`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(runs, (_k, v) => (v instanceof Float64Array ? undefined : v), 2)}\n`);
});
