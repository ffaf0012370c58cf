/**
 * A process supervisor for the split services: starts each service as a child process, waits until it is ready,
 * restarts one that dies, and stops them all.
 *
 *     const sup = new Supervisor({ log: (l) => process.stderr.write(l + '\n') });
 *     const shard = await sup.start({ name: 'shard-0', script: 'shared/services/shard-service.ts', args: [...] });
 *     shard.url                                   // http://127.0.0.1:40123, the same after every restart
 *     await sup.stop();                            // SIGTERM to every child, SIGKILL after `stopGraceMs`
 *
 * - **The secret.** Every child gets `RAG_INTERNAL_TOKEN` in its environment: one random 32-byte value per
 *   supervisor (per run), the credential the services check on every call (http-rpc.ts). It never leaves the machine
 *   and never appears on a command line (`ps` shows argv to every user; a process's environment only to its owner).
 * - **Ready.** A child says where it listens over the IPC channel (`{type: 'listening', url}`, shard-service.ts
 *   `serviceMain`); the supervisor then polls `GET <url>/readyz` until 200. `start` resolves only then.
 * - **Fixed addresses.** A service binds port 0 the first time; a restart is given `--port <that port>`, so the
 *   gateway's clients keep their addresses and reconnect by themselves. (A port taken by someone else meanwhile makes
 *   the restart fail; it is retried with backoff and logged.)
 * - **Restarts.** A child that was ready once and exits when nobody asked it to is started again after a backoff (`restartDelayMs`,
 *   doubled for each exit within `stableMs` of its start, up to `maxRestartDelayMs`), with the reason on the log
 *   (`shard-1 exited (signal SIGKILL) after 4.2 s; restart 1 in 100 ms`).
 * - **Children do not outlive it.** A child exits when its IPC channel closes (the supervisor died, even by
 *   SIGKILL), and `stop` (also on SIGTERM/SIGINT in cli-up.ts) ends them all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { REPO_ROOT } from '../util/paths.ts';

/** util-linux's taskset, which `ServiceSpec.cpus` pins a child with. */
export const TASKSET = process.env.TASKSET ?? '/usr/bin/taskset';

export interface ServiceSpec {
  /** Unique name, used in logs. */
  name: string;
  /** The service's entry file, relative to the repository root. */
  script: string;
  args?: string[];
  /** Extra environment (the secret is added). */
  env?: Record<string, string>;
  /** First port; default 0 (ephemeral, then kept for restarts). */
  port?: number;
  /**
   * Pin the process (and its restarts) to these CPUs, a `taskset -c` list ('1', '0,2', '0-3'): the child is started
   * as `taskset -c <cpus> node …` (Linux, util-linux). Default: not pinned.
   */
  cpus?: string;
}

export interface SupervisorOptions {
  /** The service credential; default 32 random bytes, hex. */
  secret?: string;
  /** Progress and restart reasons, one line each. Default: stderr. */
  log?: (line: string) => void;
  /** Longest wait for a child to say it listens and then be ready, ms. Default 60,000. */
  readyTimeoutMs?: number;
  /** First restart delay, ms. Default 100. */
  restartDelayMs?: number;
  /** Largest restart delay, ms. Default 5,000. */
  maxRestartDelayMs?: number;
  /** A child that ran this long before exiting restarts after the first delay again. Default 10,000 ms. */
  stableMs?: number;
  /** SIGTERM, then SIGKILL after this many ms. Default 3,000. */
  stopGraceMs?: number;
  /** Forward the children's stderr to `log`, prefixed with their name. Default true. */
  forwardStderr?: boolean;
}

type State = 'starting' | 'ready' | 'restarting' | 'stopped';

/** One supervised service. */
export class Service {
  url = '';
  port: number;
  pid: number | undefined;
  restarts = 0;
  state: State = 'starting';
  child: ChildProcess | undefined;
  /** Resolves each time the service becomes ready (after a start or a restart). */
  private readyWaiters: (() => void)[] = [];
  startedAt = 0;
  failuresInRow = 0;
  /** Ready at least once: from then on it is restarted whenever it exits. */
  everReady = false;

  constructor(readonly spec: ServiceSpec) {
    this.port = spec.port ?? 0;
  }

  /** Resolves when the service is next ready (at once if it is; after a restart only once the supervisor saw the exit). */
  whenReady(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  /** @internal */
  markReady(): void {
    this.state = 'ready';
    this.everReady = true;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const r of w) r();
  }
}

export class Supervisor {
  readonly secret: string;
  readonly services = new Map<string, Service>();
  private readonly log: (line: string) => void;
  private readonly opts: Required<Omit<SupervisorOptions, 'secret' | 'log'>>;
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(opts: SupervisorOptions = {}) {
    this.secret = opts.secret ?? randomBytes(32).toString('hex');
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.opts = {
      readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
      restartDelayMs: opts.restartDelayMs ?? 100,
      maxRestartDelayMs: opts.maxRestartDelayMs ?? 5_000,
      stableMs: opts.stableMs ?? 10_000,
      stopGraceMs: opts.stopGraceMs ?? 3_000,
      forwardStderr: opts.forwardStderr ?? true,
    };
  }

  /**
   * Starts a service and resolves once it is ready; from then on it is restarted whenever it exits. Rejects when it
   * exits or times out before its first ready (that is a configuration error: it is not restarted).
   */
  async start(spec: ServiceSpec): Promise<Service> {
    if (this.services.has(spec.name)) throw new Error(`a service named ${spec.name} is already supervised`);
    const svc = new Service(spec);
    this.services.set(spec.name, svc);
    await this.launch(svc);
    return svc;
  }

  /** Forks the child, waits for its address and its /readyz. Rejects (and kills it) when it does not get there. */
  private async launch(svc: Service): Promise<void> {
    const { spec } = svc;
    const args = [...(spec.args ?? []), '--port', String(svc.port)];
    // pinned: taskset execs node in place (same pid, same IPC channel), with the CPU list as its affinity
    const pin = spec.cpus !== undefined ? { execPath: TASKSET, execArgv: ['-c', spec.cpus, process.execPath, '--import', 'tsx'] } : { execArgv: ['--import', 'tsx'] };
    const child = fork(path.resolve(REPO_ROOT, spec.script), args, {
      cwd: REPO_ROOT,
      ...pin,
      env: { ...process.env, ...spec.env, RAG_INTERNAL_TOKEN: this.secret },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    svc.child = child;
    svc.pid = child.pid;
    svc.startedAt = Date.now();
    svc.state = svc.restarts === 0 ? 'starting' : 'restarting';
    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderrTail = (stderrTail + d).slice(-2000);
      if (this.opts.forwardStderr) for (const line of d.split('\n')) if (line.trim()) this.log(`[${spec.name}] ${line}`);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    exited.then((how) => this.onExit(svc, child, how, stderrTail));

    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${spec.name} did not report an address within ${this.opts.readyTimeoutMs} ms`));
      }, this.opts.readyTimeoutMs);
      child.on('message', (m: { type?: string; url?: string }) => {
        if (m?.type === 'listening' && typeof m.url === 'string') {
          clearTimeout(timer);
          resolve(m.url);
        }
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited (${signal ?? `code ${code}`}) before it listened${stderrTail ? `: ${stderrTail.trim().split('\n').pop()}` : ''}`));
      });
    });
    const url = await listening;
    svc.url = url;
    svc.port = Number(new URL(url).port);
    await this.waitReady(svc, child, exited);
    if (child.exitCode === null && child.signalCode === null && svc.child === child) {
      svc.markReady();
      this.log(`${spec.name} ready at ${url} (pid ${child.pid}${svc.restarts > 0 ? `, restart ${svc.restarts}` : ''})`);
    }
  }

  private async waitReady(svc: Service, child: ChildProcess, exited: Promise<unknown>): Promise<void> {
    const until = Date.now() + this.opts.readyTimeoutMs;
    let gone = false;
    void exited.then(() => (gone = true));
    while (Date.now() < until) {
      if (gone || this.stopping) throw new Error(`${svc.spec.name} exited before it was ready`);
      try {
        const res = await fetch(`${svc.url}/readyz`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`${svc.spec.name} was not ready within ${this.opts.readyTimeoutMs} ms`);
  }

  private onExit(svc: Service, child: ChildProcess, how: { code: number | null; signal: NodeJS.Signals | null }, tail: string): void {
    if (svc.child !== child) return;
    svc.pid = undefined;
    if (this.stopping) {
      svc.state = 'stopped';
      return;
    }
    if (!svc.everReady) {
      // never started: a configuration error (a bad flag, a missing index), not something a restart fixes
      svc.state = 'stopped';
      this.log(`${svc.spec.name} exited (${how.signal ? `signal ${how.signal}` : `code ${how.code}`}) before it was ever ready; not restarted`);
      return;
    }
    const ranMs = Date.now() - svc.startedAt;
    svc.failuresInRow = ranMs < this.opts.stableMs ? svc.failuresInRow + 1 : 1;
    const delay = Math.min(this.opts.maxRestartDelayMs, this.opts.restartDelayMs * 2 ** (svc.failuresInRow - 1));
    svc.restarts++;
    svc.state = 'restarting';
    const why = how.signal ? `signal ${how.signal}` : `code ${how.code}`;
    const last = tail.trim().split('\n').pop();
    this.log(`${svc.spec.name} exited (${why}) after ${(ranMs / 1000).toFixed(1)} s${how.code && last ? ` ("${last}")` : ''}; restart ${svc.restarts} in ${delay} ms on port ${svc.port}`);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopping) return;
      this.launch(svc).catch((err: Error) => this.log(`${svc.spec.name}: restart ${svc.restarts} failed: ${err.message}`));
    }, delay);
    this.timers.add(timer);
  }

  /** SIGTERM to every child (the gateway first), SIGKILL to any still running after `stopGraceMs`. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const order = [...this.services.values()].reverse();
    await Promise.all(
      order.map(async (svc) => {
        const child = svc.child;
        svc.state = 'stopped';
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs);
        await gone;
        clearTimeout(timer);
      }),
    );
  }
}
