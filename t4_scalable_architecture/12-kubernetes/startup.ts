/**
 * Start-up time of each split service as a process: from spawn to the first `GET /readyz` 200. The probe timings in
 * deploy/k8s/ are derived from these figures (after.ts `probeTimings`, the lesson's README has the derivation).
 *
 *     npx tsx t4_scalable_architecture/12-kubernetes/startup.ts [--runs N] [--index <dir>]
 *
 * Each service is started `runs` times with the arguments its manifest gives it (ports 0, loopback), one at a time:
 * shard 0 of 2 (loads the whole saved index, keeps its half), the embedder (loads GloVe and the index's SIF state),
 * the gateway over one shard pair and the embedder kept running (ready once every shard answered `stats`). Prints
 * one JSON object on stdout: milliseconds per run, per service; progress on stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSplitIndex } from '../../shared/services/cli-up.ts';
import { redisSkipReason } from '../../shared/services/ingest-worker.ts';
import { connectNats, deleteWriteLog } from '../../shared/services/jetstream-log.ts';
import { fail, numberFlag, parseCli } from '../../shared/util/cli.ts';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { freePort } from '../../shared/serve/test-process.ts';

export interface Started {
  url: string;
  /** spawn → first /readyz 200, ms. */
  readyMs: number;
  /** spawn → "listening on" (the port is open: /healthz answers), ms. */
  listeningMs: number;
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script> <args>` in the repository (as the image runs it in /app) and waits for
 * `/readyz` 200 on the URL the service prints. `env` is added to the environment (with a random service secret).
 */
export async function startService(script: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, RAG_INTERNAL_TOKEN: env.RAG_INTERNAL_TOKEN ?? 'startup-measure', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  let stderr = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: not listening after ${timeoutMs} ms\n${stderr}`)), timeoutMs);
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (code ${code}) before listening:\n${stderr.slice(-2000)}`));
      });
    });
    const listeningMs = performance.now() - t0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${script}: /readyz not 200 after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return { url, readyMs: performance.now() - t0, listeningMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How a service is started: as a process from the checkout, or as a container of the image (`--image`). */
export type Starter = (service: 'shard' | 'embedder' | 'gateway' | 'ingest-worker', args: string[], env?: Record<string, string>) => Promise<Started>;

/** Processes: `node --import tsx shared/services/<service>.ts`. */
export function processStarter(): Starter {
  const scripts = { shard: 'shard-service', embedder: 'embedder-service', gateway: 'gateway', 'ingest-worker': 'ingest-worker' } as const;
  return (service, args, env) => startService(`shared/services/${scripts[service]}.ts`, args, env);
}

/**
 * Containers of `image` (shared/deploy/images.ts builds rag-lab/rag:multistage), run as the manifests run them:
 * read-only root, /tmp a tmpfs, user 10001, no capabilities, no privilege escalation, the saved index on a volume at
 * /data (read-only), host network on a free port (the others' addresses are loopback). Timed from `docker run`.
 */
export function containerStarter(image: string, volume: string): Starter {
  let n = 0;
  return async (service, args, env = {}) => {
    const port = await freePort();
    const name = `ragl12-startup-${process.pid}-${n++}`;
    const withPort = args.map((a, i) => (args[i - 1] === '--port' ? String(port) : a)).filter((a, i, all) => !(a === '--index' || all[i - 1] === '--index'));
    const e = { RAG_BIND_HOST: '127.0.0.1', RAG_INDEX: '/data/index', RAG_INTERNAL_TOKEN: 'startup-measure', ...env };
    const t0 = performance.now();
    const run = spawnSync('docker', ['run', '-d', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--user', '10001:10001', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '-v', `${volume}:/data:ro`, ...Object.entries(e).flatMap(([k, v]) => ['-e', `${k}=${v}`]), image, service, ...withPort], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`docker run ${image} ${service}: ${run.stderr}`);
    const stop = async () => {
      spawnSync('docker', ['rm', '-f', name], { encoding: 'utf8' });
    };
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    let listeningMs = NaN;
    for (;;) {
      const status = await fetch(`${url}/readyz`).then((r) => r.status, () => 0);
      if (status !== 0 && Number.isNaN(listeningMs)) listeningMs = performance.now() - t0;
      if (status === 200) break;
      if (Date.now() > deadline || spawnSync('docker', ['inspect', '-f', '{{.State.Running}}', name], { encoding: 'utf8' }).stdout.trim() !== 'true') {
        const logs = spawnSync('docker', ['logs', name], { encoding: 'utf8' });
        await stop();
        throw new Error(`${service} container not ready:\n${(logs.stdout + logs.stderr).slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return { url, readyMs: performance.now() - t0, listeningMs, stop };
  };
}


export interface StartupSamples {
  shard: number[];
  embedder: number[];
  gateway: number[];
  /** Only when Redis (REDIS_URL) and NATS (NATS_URL) answer. */
  ingest?: number[];
}

export async function measureStartup(index: string, runs: number, log: (m: string) => void = () => {}, start: Starter = processStarter()): Promise<StartupSamples> {
  const out: StartupSamples = { shard: [], embedder: [], gateway: [] };
  for (let i = 0; i < runs; i++) {
    const s = await start('shard', ['--index', index, '--shard', '0', '--shards', '2', '--port', '0']);
    out.shard.push(s.readyMs);
    await s.stop();
    const e = await start('embedder', ['--index', index, '--port', '0']);
    out.embedder.push(e.readyMs);
    await e.stop();
    log(`run ${i + 1}/${runs}: shard ${s.readyMs.toFixed(0)} ms, embedder ${e.readyMs.toFixed(0)} ms`);
  }
  const [s0, s1, emb] = await Promise.all([
    start('shard', ['--index', index, '--shard', '0', '--shards', '2', '--port', '0']),
    start('shard', ['--index', index, '--shard', '1', '--shards', '2', '--port', '0']),
    start('embedder', ['--index', index, '--port', '0']),
  ]);
  try {
    for (let i = 0; i < runs; i++) {
      const g = await start('gateway', ['--host', '127.0.0.1', '--port', '0'], {
        RAG_SHARD_URLS: `${s0.url},${s1.url}`,
        RAG_EMBEDDER_URL: emb.url,
      });
      out.gateway.push(g.readyMs);
      await g.stop();
      log(`run ${i + 1}/${runs}: gateway ${g.readyMs.toFixed(0)} ms`);
    }
    if ((await redisSkipReason()) === undefined) {
      const log_ = `k8s-startup-${process.pid}`;
      out.ingest = [];
      try {
        for (let i = 0; i < runs; i++) {
          const w = await start('ingest-worker', ['--index', index, '--embedder', emb.url, '--log', log_, '--queue', log_, '--port', '0']);
          out.ingest.push(w.readyMs);
          await w.stop();
          log(`run ${i + 1}/${runs}: ingest worker ${w.readyMs.toFixed(0)} ms`);
        }
      } finally {
        const nc = await connectNats().catch(() => undefined);
        if (nc) await deleteWriteLog(nc, log_).catch(() => {}).finally(() => nc.close());
        const { Redis } = await import('ioredis');
        const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
        await redis
          .connect()
          .then(async () => {
            const keys = await redis.keys(`bull:${log_}:*`);
            if (keys.length > 0) await redis.del(...keys);
          })
          .catch(() => {})
          .finally(() => redis.disconnect());
      }
    } else log('Redis unreachable: ingest worker not measured');
  } finally {
    await Promise.all([s0.stop(), s1.stop(), emb.stop()]);
  }
  return out;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const USAGE = `
Usage: npx tsx t4_scalable_architecture/12-kubernetes/startup.ts [--runs N] [--index <dir>] [--image TAG --volume V]

Starts the shard, the embedder and the gateway as processes, N times each, and prints the time from spawn to the
first GET /readyz 200 (ms per run, JSON on stdout). These are the figures the probe timings in deploy/k8s derive from.

  --runs N       starts per service (default 10)
  --index <dir>  a saved index with exact vectors (default .cache/idx-brown-flat, built on first use)
  --image TAG    start containers of this image instead of processes (rag-lab/rag:multistage, t4 lesson 10),
                 as the manifests run them (read-only root, user 10001, no capabilities), host network
  --volume V     with --image: a Docker volume holding the saved index at index/ (made with:
                 docker run --rm -v V:/data rag-lab/rag:multistage index)
`;
  const { values } = parseCli(USAGE, { runs: { type: 'string' }, index: { type: 'string' }, image: { type: 'string' }, volume: { type: 'string' } });
  if (values.image && !values.volume) fail('--image needs --volume (a Docker volume holding the saved index)');
  const runs = numberFlag('runs', values.runs, 10, (n) => Number.isInteger(n) && n >= 1 && n <= 1000);
  const log = (m: string) => process.stderr.write(m + '\n');
  try {
    const index = values.index ? path.resolve(values.index) : await ensureSplitIndex(undefined, log);
    const samples = await measureStartup(index, runs, log, values.image ? containerStarter(values.image, values.volume!) : processStarter());
    process.stdout.write(JSON.stringify(samples) + '\n');
  } catch (err) {
    fail((err as Error).message, 1);
  }
}
