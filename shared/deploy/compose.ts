/**
 * The composed stack (deploy/compose/compose.yml) brought up, waited for and torn down from code: what the Compose
 * test, the lesson's bench and `node --import tsx shared/deploy/compose.ts up` use (t4 lesson 11).
 *
 *     const stack = await upStack({ log: (l) => process.stderr.write(l + '\n') });
 *     stack.url                      // http://127.0.0.1:32771, the gateway (the only published service)
 *     stack.writeKey                 // a key with read+write scope, made for this run
 *     await stack.compose(['restart', 'shard-1']);
 *     await stack.down();            // containers, network and named volumes of this project: gone
 *
 * What `upStack` does, in order:
 * 1. **Images.** The engine image (shared/deploy/images.ts `ensureAppImage`, the multi-stage one) and the
 *    infrastructure images made from this machine's Debian binaries (infra-images.ts). Cached: seconds when built.
 * 2. **Secrets, per run.** The service credential (32 random bytes), the PostgreSQL password and a read+write API
 *    key are generated here and given to docker-compose in its environment only; the gateway gets the key's record
 *    (its hash), never the key. Prometheus needs the credential to scrape /metrics: it gets it as a file (mode 0400,
 *    owned by its uid 10001, in a private temporary folder removed by `down()`). `deploy/compose/stack.env.example` documents the variables.
 * 3. **A unique project name** (`ragl11-<pid>-<random>` unless given): containers, network and volumes are prefixed
 *    with it, so several stacks (other tests, other people) run side by side; ports are the OS's choice on 127.0.0.1.
 * 4. **`up -d`, then wait for health.** Compose starts each service once its dependencies are healthy
 *    (`condition: service_healthy`), but `up -d` returns when the last container is *started*: the gateway may still
 *    be loading. So the stack is ready only when every container with a healthcheck says `healthy` (docker inspect),
 *    polled every 500 ms up to `readyTimeoutMs`. A container that exits or turns unhealthy meanwhile is reported with
 *    the tail of its log, and the stack is torn down (nothing is left running on failure).
 *
 * `down()` is `docker-compose down --volumes --remove-orphans --timeout 5`; call it in `finally`/`afterAll`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../serve/auth.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { ensureSplitIndex } from '../services/cli-up.ts';
import { ensureAppImage } from './images.ts';
import { BASE_INFRA, ensureInfraImages } from './infra-images.ts';
import { APP_USER, dockerAvailable, DOCKER_SKIP_MESSAGE, docker } from './rootfs.ts';

/** The stack's Compose file. */
export const COMPOSE_FILE = path.join(REPO_ROOT, 'deploy/compose/compose.yml');
/** The override with a second gateway and a balancer (HAProxy) in front of both: `upStack({ha: true})`. */
export const COMPOSE_HA_FILE = path.join(REPO_ROOT, 'deploy/compose/compose.ha.yml');

/** The services of compose.yml that have a healthcheck (all but the one-shot snapshot-seed). */
export const HEALTHY_SERVICES = ['redis', 'nats', 'postgres', 'embedder', 'shard-0', 'shard-1', 'ingest', 'gateway', 'prometheus'] as const;
/** What compose.ha.yml adds to them. */
export const HA_SERVICES = ['lb'] as const;

/** Debian's docker-compose (v1, python): env DOCKER_COMPOSE, else `docker-compose` on PATH. */
const COMPOSE_CLI = process.env.DOCKER_COMPOSE ?? 'docker-compose';

export interface ComposeResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs `docker-compose <args>` with `env` added; rejects with its stderr tail on a non-zero exit unless `allowFail`. */
export function runCompose(args: string[], env: Record<string, string>, opts: { allowFail?: boolean; timeoutMs?: number; onLine?: (l: string) => void } = {}): Promise<ComposeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(COMPOSE_CLI, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.onLine) for (const l of d.split('\n')) if (l.trim()) opts.onLine(l.trim());
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${COMPOSE_CLI} (${err.message}): apt-get install docker-compose`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const c = code ?? 128;
      if (c !== 0 && !opts.allowFail) reject(new Error(`${COMPOSE_CLI} ${args.join(' ').slice(0, 160)} failed (${signal ?? `exit ${c}`}): ${stderr.trim().split('\n').slice(-8).join('\n')}`));
      else resolve({ stdout, stderr, code: c });
    });
  });
}

let composeOk: Promise<boolean> | undefined;
/** True when Docker answers and docker-compose runs (cached per process). */
export function composeAvailable(): Promise<boolean> {
  composeOk ??= (async () => {
    if (!(await dockerAvailable())) return false;
    const r = await runCompose(['version', '--short'], {}, { allowFail: true, timeoutMs: 10_000 }).catch(() => undefined);
    return r?.code === 0;
  })();
  return composeOk;
}

/** Why a Compose test or bench row is skipped. */
export const COMPOSE_SKIP_MESSAGE = `${DOCKER_SKIP_MESSAGE}; the stack also needs docker-compose (apt-get install docker-compose)`;

export interface StackOptions {
  /** Compose project name; default `ragl11-<pid>-<6 hex>`. Containers, network and volumes carry it. */
  project?: string;
  /** Compose file; default deploy/compose/compose.yml. */
  file?: string;
  /** Also compose.ha.yml: two gateways behind HAProxy; `url` is then the balancer's. Default false. */
  ha?: boolean;
  /** The gateways' circuit breakers (RAG_GATEWAY_BREAKER: off, on or JSON; gateway.ts `breakerFromEnv`). Default off. */
  breaker?: string;
  /** The engine image; default env RAG_APP_IMAGE, else `ensureAppImage({variant: 'multistage'})` (shared/deploy/images.ts: built when its sources changed). */
  appImage?: string;
  /** The saved index the snapshots volume is seeded with; default the split's (.cache/idx-brown-flat, built when missing). */
  indexDir?: string;
  /** Longest wait from `up` to every container healthy, ms. Default 180,000. */
  readyTimeoutMs?: number;
  /** Wait for health after `up -d`. Default true (false: return as soon as `up -d` returns, as lesson 11's before does). */
  waitHealthy?: boolean;
  /** Progress lines. Default none. */
  log?: (line: string) => void;
}

export interface Stack {
  project: string;
  /** The API, http://127.0.0.1:<port>: the gateway, or with `ha` the balancer in front of both gateways. */
  url: string;
  /** Prometheus, http://127.0.0.1:<port>. */
  prometheusUrl: string;
  /** A read+write API key for this run (send `authorization: Bearer <key>`). */
  writeKey: string;
  /** ms from `up -d` started to every container healthy (or to `up -d` returned, when not waiting). */
  upToReadyMs: number;
  /** `docker-compose -p <project> -f <file> <args>` with this stack's variables. */
  compose(args: string[], opts?: { allowFail?: boolean }): Promise<ComposeResult>;
  /** Container id of a service (its first, when scaled). */
  container(service: string): Promise<string>;
  /** Container ids of a service (two gateways with `ha`). */
  containers(service: string): Promise<string[]>;
  /** Health of every container: `{gateway: 'healthy', 'snapshot-seed': 'exited 0', ...}`. */
  health(): Promise<Record<string, string>>;
  /**
   * A rolling restart of a service's containers (two gateways with `ha`): each in turn stopped with its grace period
   * (`docker stop -t graceS`: SIGTERM, the service drains), started, waited for until healthy, and then `minReadyMs`
   * more (Kubernetes' minReadySeconds: a balancer's own checks must see it up) before the next is stopped. Resolves
   * with the ms from the call to the last one healthy; rejects when one is not healthy within `timeoutMs` (120 s).
   */
  roll(service: string, opts?: { graceS?: number; minReadyMs?: number; timeoutMs?: number }): Promise<number>;
  /** Waits until every container with a healthcheck is healthy. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops and removes the containers, the network and the named volumes. Safe to call twice. */
  down(): Promise<void>;
}

/** What `docker inspect` says of a container, for waiting on it. */
export interface ContainerState {
  restarts: number;
  status: string;
  /** `healthy`, `starting`, `unhealthy`, or `none` (no healthcheck). */
  health: string;
  pid: number;
}

export async function inspect(id: string): Promise<ContainerState> {
  const r = await docker(['inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.Pid}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', id]);
  const [restarts, status, pid, health] = r.stdout.trim().split(' ');
  return { restarts: Number(restarts), status, health, pid: Number(pid) };
}

/** Running, and its healthcheck says healthy. */
export const isHealthy = (s: ContainerState): boolean => s.status === 'running' && s.health === 'healthy';

/** Polls `inspect(id)` every 250 ms until `ok(state)`: the ms waited since `t0`, or undefined after `timeoutMs`. */
export async function waitFor(id: string, ok: (s: ContainerState) => boolean, timeoutMs: number, t0 = performance.now()): Promise<number | undefined> {
  while (performance.now() - t0 < timeoutMs) {
    const s = await inspect(id).catch(() => undefined);
    if (s && ok(s)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

/** Brings the stack up under a unique project name and (by default) waits until every service is healthy. */
export async function upStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => {});
  if (!(await composeAvailable())) throw new Error(COMPOSE_SKIP_MESSAGE);
  const file = opts.file ?? COMPOSE_FILE;
  if (!existsSync(file)) throw new Error(`no Compose file at ${file}`);
  const project = opts.project ?? `ragl11-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw new Error(`project name "${project}": lowercase letters, digits, - and _ only`);

  const image = opts.appImage ?? (process.env.RAG_APP_IMAGE || (await ensureAppImage({ variant: 'multistage', log })));
  const infra = await ensureInfraImages({ log, only: [...BASE_INFRA, ...(opts.ha ? (['haproxy'] as const) : [])] });
  // the saved index the snapshots volume starts from: built on the host once (~6 s), copied into the volume (~1 s)
  const seedDir = path.resolve(opts.indexDir ?? (await ensureSplitIndex(undefined, log)));
  const { key, record } = generateKey(`${project}-writer`, ['read', 'write']);
  const token = randomBytes(32).toString('hex');
  // Prometheus scrapes /metrics with the service credential: a file only its user (app, 10001) can read, removed on down
  const secretsDir = mkdtempSync(path.join(tmpdir(), `${project}-secrets-`));
  const tokenFile = path.join(secretsDir, 'internal-token');
  writeFileSync(tokenFile, token, { mode: 0o400 });
  if (process.getuid?.() === 0) chownSync(tokenFile, APP_USER.uid, APP_USER.gid);
  else chmodSync(tokenFile, 0o444); // not root: cannot give it to uid 10001; readable by all (in a 0700 folder)
  const env: Record<string, string> = {
    RAG_APP_IMAGE: image,
    RAG_REDIS_IMAGE: infra.redis,
    RAG_NATS_IMAGE: infra.nats,
    RAG_POSTGRES_IMAGE: infra.postgres,
    RAG_PROMETHEUS_IMAGE: infra.prometheus,
    ...(opts.ha ? { RAG_HAPROXY_IMAGE: infra.haproxy } : {}),
    RAG_INDEX_SEED_DIR: seedDir,
    RAG_WRITE_LOG: 'compose',
    RAG_GATEWAY_BREAKER: opts.breaker ?? 'off',
    RAG_INTERNAL_TOKEN: token,
    RAG_METRICS_TOKEN_FILE: tokenFile,
    RAG_POSTGRES_PASSWORD: randomBytes(18).toString('base64url'),
    RAG_GATEWAY_SERVER: JSON.stringify({ auth: { keys: [record], readAccess: 'open' } }),
    COMPOSE_PROJECT_NAME: project,
  };
  const base = ['-f', file, ...(opts.ha ? ['-f', COMPOSE_HA_FILE] : []), '-p', project];
  const healthy: readonly string[] = [...HEALTHY_SERVICES, ...(opts.ha ? HA_SERVICES : [])];
  const compose = (args: string[], o: { allowFail?: boolean } = {}) => runCompose([...base, ...args], env, { ...o, timeoutMs: 300_000 });
  let downed = false;
  const down = async () => {
    if (downed) return;
    downed = true;
    log(`compose ${project}: down`);
    await compose(['down', '--volumes', '--remove-orphans', '--timeout', '5'], { allowFail: true });
    rmSync(secretsDir, { recursive: true, force: true });
  };
  const containers = async (service: string) => {
    const ids = (await compose(['ps', '-q', service])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    if (ids.length === 0) throw new Error(`compose ${project}: no container for service ${service}`);
    return ids;
  };
  const container = async (service: string) => (await containers(service))[0];
  const roll: Stack['roll'] = async (service, o = {}) => {
    const t0 = performance.now();
    const ids = await containers(service);
    for (const [i, id] of ids.entries()) {
      await docker(['stop', '-t', String(o.graceS ?? 10), id]);
      await docker(['start', id]);
      if ((await waitFor(id, isHealthy, o.timeoutMs ?? 120_000)) === undefined) {
        throw new Error(`compose ${project}: ${service} container ${id.slice(0, 12)} not healthy ${((o.timeoutMs ?? 120_000) / 1000).toFixed(0)} s after its restart`);
      }
      if (i < ids.length - 1) await new Promise((r) => setTimeout(r, o.minReadyMs ?? 0));
    }
    return performance.now() - t0;
  };
  const health = async () => {
    const ids = (await compose(['ps', '-q'])).stdout.split('\n').filter(Boolean);
    if (ids.length === 0) return {};
    const r = await docker(['inspect', '--format', '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', ...ids]);
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const [svc, status, exit, h] = line.split(' ');
      const state = status === 'exited' ? `exited ${exit}` : h || status;
      // a scaled service (two gateways) is healthy only when every one of its containers is
      out[svc] = out[svc] === undefined || state !== 'healthy' ? state : out[svc];
    }
    return out;
  };
  const waitHealthy = async (timeoutMs = opts.readyTimeoutMs ?? 180_000) => {
    const t0 = Date.now();
    let last = '';
    for (;;) {
      const h = await health();
      const bad = Object.entries(h).filter(([s, v]) => v === 'unhealthy' || (v.startsWith('exited') && !(s === 'snapshot-seed' && v === 'exited 0')));
      if (bad.length) throw new Error(`compose ${project}: ${bad.map(([s, v]) => `${s} ${v}`).join(', ')}\n${await logsTail(bad.map(([s]) => s))}`);
      const waiting = healthy.filter((s) => h[s] !== 'healthy');
      const line = waiting.map((s) => `${s}: ${h[s] ?? 'not created'}`).join(', ');
      if (waiting.length === 0) return;
      if (line !== last) log(`compose ${project}: waiting for ${line}`);
      last = line;
      if (Date.now() - t0 > timeoutMs) throw new Error(`compose ${project}: not healthy after ${timeoutMs} ms: ${line}\n${await logsTail(waiting)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** The last healthcheck's output of a service's container. */
  const healthLog = async (service: string) => {
    const id = (await compose(['ps', '-q', service], { allowFail: true })).stdout.trim();
    if (!id) return 'no container';
    const r = await docker(['inspect', '--format', '{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}}: {{.Output}}|{{end}}{{end}}', id], { allowFail: true });
    return r.stdout.trim().split('|').filter(Boolean).slice(-2).join(' / ').replace(/\s+/g, ' ').slice(0, 300) || 'no healthcheck output';
  };
  const logsTail = async (services: string[]) => (await compose(['logs', '--no-color', '--tail', '15', ...services], { allowFail: true })).stdout.slice(-4000);

  const t0 = performance.now();
  try {
    log(`compose ${project}: up (${path.relative(REPO_ROOT, file)})`);
    await runCompose([...base, 'up', '-d', '--no-color'], env, { timeoutMs: opts.readyTimeoutMs ?? 300_000, onLine: log }).catch(async (err: Error) => {
      // say which service failed and why (compose names only the dependant it could not start)
      const h = await health().catch(() => ({}) as Record<string, string>);
      const bad = Object.entries(h).filter(([s, v]) => v !== 'healthy' && !(s === 'snapshot-seed' && v === 'exited 0'));
      const why = await Promise.all(bad.map(async ([s]) => `${s}: ${await healthLog(s)}`));
      throw new Error(`${err.message}\nservices: ${bad.map(([s, v]) => `${s} ${v}`).join(', ')}\n${why.join('\n')}\n${await logsTail(bad.map(([s]) => s))}`);
    });
    if (opts.waitHealthy ?? true) await waitHealthy();
    const upToReadyMs = performance.now() - t0;
    const port = async (svc: string, p: number) => {
      const out = (await compose(['port', svc, String(p)])).stdout.trim(); // 127.0.0.1:32771
      if (!/:\d+$/.test(out)) throw new Error(`compose ${project}: ${svc} publishes no port ${p} (${out || 'nothing'})`);
      return `http://${out}`;
    };
    const stack: Stack = {
      project,
      url: await port(opts.ha ? 'lb' : 'gateway', 8080),
      prometheusUrl: await port('prometheus', 9090),
      writeKey: key,
      upToReadyMs,
      compose,
      container,
      containers,
      roll,
      health,
      waitHealthy,
      down,
    };
    log(`compose ${project}: ready in ${(upToReadyMs / 1000).toFixed(1)} s, ${opts.ha ? 'balancer' : 'gateway'} ${stack.url}`);
    return stack;
  } catch (err) {
    await down();
    throw err;
  }
}

const HELP = `Usage: node --import tsx shared/deploy/compose.ts <command> [options]

  up [--project NAME] [--ha]
                           build the images, start deploy/compose/compose.yml, wait until every service is
                           healthy, print the gateway's URL and a write key; Ctrl-C tears it all down.
                           --ha: with compose.ha.yml (a second gateway, HAProxy in front; the URL is HAProxy's)
  down --project NAME      tear down a stack left running (containers, network, volumes)
  status --project NAME    each service's health

Needs Docker (apt-get install docker.io, dockerd running) and docker-compose (apt-get install docker-compose).`;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  const flagOf = (n: string) => {
    const i = rest.indexOf(`--${n}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const fail = (m: string, code = 1) => {
    process.stderr.write(`error: ${m}\n`);
    process.exit(code);
  };
  const log = (l: string) => process.stderr.write(l + '\n');
  if (!cmd || cmd === '--help' || cmd === '-h' || rest.includes('--help')) {
    process.stdout.write(HELP + '\n');
    process.exit(cmd ? 0 : 2);
  }
  const project = flagOf('project');
  // the file's required variables are not needed to stop or list: placeholders
  const placeholders = { RAG_APP_IMAGE: 'x', RAG_INDEX_SEED_DIR: '/x', RAG_METRICS_TOKEN_FILE: '/x', RAG_INTERNAL_TOKEN: 'x', RAG_POSTGRES_PASSWORD: 'x', RAG_GATEWAY_SERVER: '{}' };
  if (cmd === 'up') {
    const name = project ?? `ragl11-${process.pid}-${randomBytes(3).toString('hex')}`;
    let stack: Stack | undefined;
    // Ctrl-C while it comes up tears down what was started too
    const stop = () =>
      void (stack ? stack.down() : runCompose(['-f', COMPOSE_FILE, '-p', name, 'down', '--volumes', '--remove-orphans', '--timeout', '5'], placeholders, { allowFail: true })).finally(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    upStack({ project: name, log, ha: rest.includes('--ha') }).then(
      (s) => {
        stack = s;
        process.stdout.write(`gateway    ${s.url}\nprometheus ${s.prometheusUrl}\nproject    ${s.project}\nwrite key  ${s.writeKey}\n`);
        log('Ctrl-C to tear the stack down');
        setInterval(() => {}, 1 << 30); // nothing else holds the process: stay until the signal
      },
      (err: Error) => fail(err.message),
    );
  } else if (cmd === 'down' || cmd === 'status') {
    if (!project) fail(`${cmd} needs --project NAME (docker ps shows it as the containers' prefix)`, 2);
    const args = cmd === 'down' ? ['down', '--volumes', '--remove-orphans', '--timeout', '5'] : ['ps'];
    runCompose(['-f', COMPOSE_FILE, '-p', project!, ...args], placeholders).then(
      (r) => process.stdout.write(r.stdout),
      (err: Error) => fail(err.message),
    );
  } else fail(`unknown command "${cmd}" (up, down, status; --help)`, 2);
}
