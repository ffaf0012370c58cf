/**
 * `npm run loadtest`: load one running server with a workload and report QPS and latency.
 *
 *     npm run serve -- --index .cache/idx-100k --workers 2 &
 *     npm run loadtest -- --workload zipf --duration 20 --connections 64
 */
import { resolve } from 'node:path';
import { DEFAULT_KEYS_FILE } from '../serve/access-cli.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { DEFAULT_MAX_QPS, runLoad, type LoadResult } from './driver.ts';
import { checkLoopback, formatLoad } from './format.ts';
import { prepareLoadKey } from './keys.ts';
import { saveLoadtest, toLesson } from './results.ts';
import { brownPhraseSource, WORKLOADS, type WorkloadName } from './workloads.ts';

const USAGE = `
Usage: npm run loadtest -- [--url U] [--workload uniform|zipf|mixed] [--duration S] [--connections C] [--json]

Drives autocannon against a running server (npm run serve) with real query text (phrases of Brown-corpus sentences):
  uniform   every query distinct: the results cache cannot help
  zipf      queries from a log of 10,000 phrases, popularity ∝ 1/rank^1.1
  mixed     95% zipf queries, 5% writes (ingests of new documents, deletes of ones this run added); every
            acknowledged write is checked to be visible (or gone) within 1 s

Prints QPS, p50/p90/p99/max latency (exact, of 2xx responses), non-2xx responses and connection errors, and merges
them into the lab's results (reports/<run-id>/results.json, lesson t4/loadtest-<workload>; npm run report charts them).

Options:
  --url U            server base URL (default http://127.0.0.1:8080); only loopback addresses are accepted
  --workload W       uniform | zipf | mixed (default uniform); several comma-separated run one after the other
  --duration S       measured seconds per workload (default 15)
  --warmup S         seconds of load before measuring (default 3)
  --connections C    concurrent connections (default 32)
  --max-qps Q        uniform/zipf: the rate the pre-built requests are sized for (default ${DEFAULT_MAX_QPS.uniform} for
                     uniform, ${DEFAULT_MAX_QPS.zipf} for zipf); a faster server re-sends requests and the run says so
  --k K              hits per query (default 10)
  --mode M           hybrid | bm25 | dense (default hybrid)
  --seed N           seed of the query stream (default: a new one per run, printed). Each workload of a run
                     uses seed + its position, so no workload finds the queries of another in the server's cache;
                     a fixed seed against a server that already saw it measures a warm cache, not the workload
  --key K            API key sent with writes (env RAG_API_KEY); without one, mixed makes a temporary key with the
                     read and write scopes in the server's keys file and revokes it at the end (queries carry the
                     key only when the server keys its reads)
  --keys-file F      where that temporary key goes: the file the server reads (default ${DEFAULT_KEYS_FILE}, env KEYS_FILE)
  --label NAME       name of the server in the results (default rag-engine)
  --run ID           lab run to add the results to (default: a new run id)
  --no-save          do not write results
  --json             print the results as JSON on stdout
  -h, --help         show this help
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    url: { type: 'string' },
    workload: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'max-qps': { type: 'string' },
    k: { type: 'string' },
    mode: { type: 'string' },
    seed: { type: 'string' },
    label: { type: 'string' },
    key: { type: 'string' },
    'keys-file': { type: 'string' },
    run: { type: 'string' },
    'no-save': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const url = checkLoopback(values.url ?? 'http://127.0.0.1:8080');
  const workloads = (values.workload ?? 'uniform').split(',') as WorkloadName[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) fail(`--workload ${w}: expected one of ${WORKLOADS.join(', ')}`);
  const duration = numberFlag('duration', values.duration, 15, (n) => n > 0 && n <= 600);
  const warmup = numberFlag('warmup', values.warmup, 3, (n) => n >= 0 && n <= 120);
  const connections = numberFlag('connections', values.connections, 32, (n) => Number.isInteger(n) && n > 0 && n <= 1024);
  const maxQps = values['max-qps'] === undefined ? undefined : numberFlag('max-qps', values['max-qps'], 0, (n) => n > 0 && n <= 1e6);
  const k = numberFlag('k', values.k, 10, (n) => Number.isInteger(n) && n > 0 && n <= 100);
  const mode = (values.mode ?? 'hybrid') as 'hybrid';
  if (!['hybrid', 'bm25', 'dense'].includes(mode)) fail(`--mode ${mode}: expected hybrid, bm25 or dense`);
  const label = values.label ?? 'rag-engine';
  const seed = numberFlag('seed', values.seed, Date.now() % 1_000_000_000, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 31);
  const log = (m: string) => process.stderr.write(`${m}\n`);

  const ready = await fetch(`${url}/readyz`).catch((err: Error) => fail(`cannot reach ${url}: ${err.message}; start it with npm run serve`));
  if (ready.status !== 200) fail(`${url}/readyz answered ${ready.status}: the server is not ready yet`);

  const keysFile = resolve(REPO_ROOT, values['keys-file'] ?? process.env.KEYS_FILE ?? DEFAULT_KEYS_FILE);
  const access = await prepareLoadKey({
    url,
    given: values.key ?? (process.env.RAG_API_KEY || undefined),
    keysFile,
    sendsWrites: workloads.includes('mixed'),
    log,
  }).catch((err: Error) => fail(err.message));
  const interrupted = () => {
    access.cleanup();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log('building the query log from the Brown corpus');
    const src = await brownPhraseSource();
    const results: LoadResult[] = [];
    log(`seed ${seed} (--seed ${seed} repeats this run's queries)`);
    for (const [i, workload] of workloads.entries()) {
      const startedAt = new Date().toISOString();
      const t0 = Date.now();
      const r = await runLoad({
        url,
        workload,
        duration,
        warmup,
        connections,
        maxQps,
        src,
        stream: { k, mode, seed: seed + i },
        apiKey: access.apiKey,
        keyOnQueries: access.keyOnQueries,
        log,
      });
      results.push(r);
      process.stderr.write(`${formatLoad(label, r)}\n`);
      if (!values['no-save']) {
        const lesson = toLesson({
          id: `t4/loadtest-${workload}`,
          title: `Load test: ${workload} workload`,
          workload: `${workload}: autocannon, ${connections} connections, ${duration} s, ${mode} k=${k} with answer, against ${url}`,
          baseline: label,
          runs: [{ name: label, load: r }],
          startedAt,
          durationMs: Date.now() - t0,
        });
        const saved = saveLoadtest([lesson], { [`loadtest-${workload}`]: { label, ...r } }, values.run);
        values.run = saved.runId;
        log(`results: ${saved.file} (npm run report -- --run ${saved.runId})`);
      }
    }
    if (values.json) process.stdout.write(`${JSON.stringify(results, (_k, v) => (v instanceof Float64Array ? undefined : v), 2)}\n`);
  } finally {
    access.cleanup();
  }
});
