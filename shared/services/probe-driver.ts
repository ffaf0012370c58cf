/**
 * A probe driver that acts like the kubelet and an endpoints controller for processes on this machine: it starts a
 * service as a child process, runs its startup, liveness and readiness probes over HTTP (a new connection per probe,
 * as the kubelet's), restarts it when liveness fails `failureThreshold` times in a row, and keeps the list of ready
 * endpoints a balancer sends to (in when readiness succeeds, out after `failureThreshold` failures). Lesson t4/14
 * measures health checks and graceful shutdown with it; no cluster needed.
 *
 *     const pod = new Pod({ name: 'replica-0', script: 'path/to/service.ts', args: [...],
 *       startup: { path: '/healthz', periodMs: 250, failureThreshold: 20, timeoutMs: 1000 },
 *       liveness: { path: '/healthz', periodMs: 1000, failureThreshold: 3, timeoutMs: 1000 },
 *       readiness: { path: '/readyz', periodMs: 200, failureThreshold: 1, timeoutMs: 200 },
 *       terminationGraceMs: 5000 });
 *     const set = new PodSet([pod, ...]);
 *     await set.start();                    // every pod ready
 *     set.endpoints();                      // ['http://127.0.0.1:40123', ...]: the ready ones, what a balancer uses
 *     await set.rollingRestart();           // one at a time: SIGTERM, wait for the exit (SIGKILL after the grace), start, wait ready
 *     pod.restarts; pod.events;             // liveness restarts, and every transition with its time
 *     await set.stop();
 *
 * What it models and what it does not:
 * - **Startup probe**: until its first success, liveness and readiness are not run; `failureThreshold` failures kill
 *   and restart the process. Without one, liveness runs from the start (a slow start may then be killed).
 * - **Liveness**: `failureThreshold` failures in a row → the process is stopped as a pod is (SIGTERM, SIGKILL after
 *   `terminationGraceMs`) and started again after `restartDelayMs` (the kubelet's CrashLoopBackOff starts at 10 s;
 *   here 500 ms by default so a lesson sees the effect within its run), on the same port.
 * - **Readiness**: the only signal the endpoints follow. A real endpoints controller also drops a pod the moment it is
 *   deleted, but the balancers that read it (kube-proxy's iptables on every node, an ingress, a cloud load balancer)
 *   apply that change seconds later, and HAProxy-style health checks never hear of it at all; so the window in which
 *   traffic still arrives after SIGTERM is what a graceful shutdown must cover either way.
 * - A process that exits by itself (a crash) is started again after `restartDelayMs`; one stopped by `terminate()`
 *   (a rolling restart) is not. Either way the endpoints drop it only when readiness fails (connection refused):
 *   the balancer does not watch processes. A new process starts not ready.
 * - The child says where it listens over IPC (`{type: 'listening', url}`, as shard-service.ts `serviceMain`); until
 *   then every probe fails as "connection refused" would.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT } from '../util/paths.ts';

export interface ProbeSpec {
  /** HTTP GET path; 200-399 is a success (the kubelet's rule). */
  path: string;
  periodMs: number;
  failureThreshold: number;
  /** No answer within this is a failure, ms. */
  timeoutMs: number;
  /** Successes in a row to count as passing again (readiness); default 1. */
  successThreshold?: number;
}

export interface PodSpec {
  /** Unique name, in events and logs. */
  name: string;
  /** Entry file, relative to the repository root (or absolute); run with `node --import tsx`. */
  script: string;
  args?: string[];
  env?: Record<string, string>;
  startup?: ProbeSpec;
  liveness?: ProbeSpec;
  readiness: ProbeSpec;
  /** SIGTERM, then SIGKILL after this many ms (`terminationGracePeriodSeconds`). */
  terminationGraceMs: number;
  /** After a liveness kill or a crash, wait this long before starting again, ms; default 500. */
  restartDelayMs?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export type PodEventKind = 'start' | 'listening' | 'started' | 'ready' | 'unready' | 'liveness-kill' | 'startup-kill' | 'sigterm' | 'sigkill' | 'exit';

export interface PodEvent {
  /** performance.now() when it happened. */
  at: number;
  kind: PodEventKind;
  detail?: string;
}

type Phase = 'starting' | 'running' | 'terminating' | 'stopped';

/** One HTTP GET probe on a fresh connection: true on 200-399 within `timeoutMs`. */
export function httpProbe(url: string | undefined, spec: ProbeSpec): Promise<boolean> {
  if (!url) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get(url + spec.path, { agent: false, timeout: spec.timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', () => resolve(false));
  });
}

/** One supervised process with its probes. */
export class Pod {
  /** Its probes may be changed between starts (a new plan applies from the next start). */
  readonly spec: PodSpec;
  url: string | undefined;
  /** 0 until the first start has listened; then kept for every restart. */
  port = 0;
  /** In the endpoints (readiness passing). */
  ready = false;
  /** Restarts by liveness or startup failures, and crashes. */
  restarts = 0;
  /** Starts of a process (1 + restarts + rolling restarts). */
  starts = 0;
  readonly events: PodEvent[] = [];
  /** Called on every ready/unready change (the PodSet's endpoints). */
  onReadyChange?: () => void;
  private phase: Phase = 'stopped';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private gen = 0;
  private timers = new Set<NodeJS.Timeout>();

  constructor(spec: PodSpec) {
    this.spec = spec;
  }

  private event(kind: PodEventKind, detail?: string): void {
    this.events.push({ at: performance.now(), kind, detail });
    this.spec.log?.(`${this.spec.name}: ${kind}${detail ? ` (${detail})` : ''}`);
  }

  private setReady(ready: boolean, why: string): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.event(ready ? 'ready' : 'unready', why);
    this.onReadyChange?.();
  }

  /** Runs `fn` every `spec.periodMs` while `gen` is current, until it returns false. */
  private every(gen: number, spec: ProbeSpec, fn: () => Promise<boolean | void>): void {
    const tick = async () => {
      if (gen !== this.gen) return;
      const again = await fn();
      if (gen !== this.gen || again === false) return;
      this.later(tick, spec.periodMs);
    };
    this.later(tick, spec.periodMs);
  }

  /** Starts the process and its probes (resolves once forked; `whenReady` waits for readiness). */
  start(): void {
    const gen = ++this.gen;
    this.phase = 'starting';
    this.url = undefined;
    this.starts++;
    this.setReady(false, 'a new process starts not ready');
    const args = [...(this.spec.args ?? []), '--port', String(this.port)];
    const script = path.isAbsolute(this.spec.script) ? this.spec.script : path.resolve(REPO_ROOT, this.spec.script);
    const child = fork(script, args, {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child = child;
    this.event('start', `pid ${child.pid}`);
    let tail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (tail = (tail + d).slice(-1000)));
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m?.type === 'listening' && typeof m.url === 'string' && gen === this.gen) {
        this.url = m.url;
        this.port = Number(new URL(m.url).port);
        this.event('listening', m.url);
      }
    });
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        this.event('exit', signal ? `signal ${signal}` : `code ${code}${code ? `: ${tail.trim().split('\n').pop()}` : ''}`);
        resolve();
        if (gen !== this.gen) return;
        // a crash (nobody asked it to stop): restart, as the kubelet does; the balancer learns from readiness
        this.stopProbes();
        this.watchUntilUnready(gen, 'after a crash');
        this.restarts++;
        this.later(() => this.start(), this.spec.restartDelayMs ?? 500);
      }),
    );
    const { startup, liveness, readiness } = this.spec;
    const running = () => {
      this.phase = 'running';
      if (liveness) {
        let fails = 0;
        this.every(gen, liveness, async () => {
          if (await httpProbe(this.url, liveness)) fails = 0;
          else if (++fails >= liveness.failureThreshold) {
            this.event('liveness-kill', `${fails} failures in a row`);
            void this.kill(gen);
            return false;
          }
        });
      }
      let fails = 0;
      let oks = 0;
      this.every(gen, readiness, async () => {
        if (await httpProbe(this.url, readiness)) {
          fails = 0;
          if (++oks >= (readiness.successThreshold ?? 1)) this.setReady(true, 'readiness passed');
        } else {
          oks = 0;
          if (++fails >= readiness.failureThreshold) this.setReady(false, `${fails} readiness failure(s)`);
        }
      });
    };
    if (!startup) return running();
    let fails = 0;
    this.every(gen, startup, async () => {
      if (await httpProbe(this.url, startup)) {
        this.event('started', 'startup probe passed');
        running();
        return false;
      }
      if (++fails >= startup.failureThreshold) {
        this.event('startup-kill', `${fails} startup probe failures`);
        void this.kill(gen);
        return false;
      }
    });
  }

  private later(fn: () => void | Promise<void>, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }

  private stopProbes(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** A liveness or startup kill: stop as a pod is stopped, then start again (same port). */
  private async kill(gen: number): Promise<void> {
    if (gen !== this.gen) return;
    this.gen++; // the exit is ours, not a crash
    this.stopProbes();
    this.setReady(false, 'killed');
    await this.stopChild();
    this.restarts++;
    this.later(() => this.start(), this.spec.restartDelayMs ?? 500);
  }

  /** SIGTERM, SIGKILL after the grace period; resolves on exit. Readiness keeps being probed meanwhile. */
  private async stopChild(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.event('sigterm');
    child.kill('SIGTERM');
    const grace = setTimeout(() => {
      this.event('sigkill', `still running ${this.spec.terminationGraceMs} ms after SIGTERM`);
      child.kill('SIGKILL');
    }, this.spec.terminationGraceMs);
    await this.exited;
    clearTimeout(grace);
  }

  /**
   * Stop as a pod is deleted: SIGTERM (the process's own shutdown runs), readiness still probed until it exits (the
   * endpoints follow it), SIGKILL after `terminationGraceMs`. Not restarted.
   */
  async terminate(): Promise<void> {
    const gen = ++this.gen; // the exit is expected
    this.phase = 'terminating';
    this.stopProbes();
    this.watchUntilUnready(gen, 'while terminating');
    await this.stopChild();
    // gone: the balancer still learns it from its readiness probes (connection refused), not at once
    const { readiness } = this.spec;
    const until = performance.now() + (readiness.failureThreshold + 1) * (readiness.periodMs + readiness.timeoutMs) + 1_000;
    while (this.ready && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.stopProbes();
    this.setReady(false, 'exited');
    this.phase = 'stopped';
  }

  /** Readiness only, every period, until `failureThreshold` failures in a row take the pod out of the endpoints. */
  private watchUntilUnready(gen: number, when: string): void {
    const { readiness } = this.spec;
    let fails = 0;
    this.every(gen, readiness, async () => {
      if (await httpProbe(this.url, readiness)) fails = 0;
      else if (++fails >= readiness.failureThreshold) {
        this.setReady(false, `${fails} readiness failure(s) ${when}`);
        return false;
      }
    });
  }

  /** Resolves when readiness passes; rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (!this.ready) {
      if (performance.now() > until) throw new Error(`${this.spec.name} not ready within ${timeoutMs} ms (events: ${this.events.slice(-6).map((e) => e.kind + (e.detail ? ` ${e.detail}` : '')).join(', ')})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops probing and the process (SIGKILL after the grace); no restart. */
  async stop(): Promise<void> {
    this.gen++;
    this.stopProbes();
    await this.stopChild();
    this.ready = false;
    this.phase = 'stopped';
  }

  get state(): Phase {
    return this.phase;
  }
}

/** Several pods behind one list of endpoints: what a Service's balancer sends to. */
export class PodSet {
  readonly pods: Pod[];
  constructor(pods: Pod[]) {
    this.pods = pods;
  }

  /** Starts every pod and waits until all are ready. */
  async start(readyTimeoutMs = 60_000): Promise<void> {
    for (const p of this.pods) p.start();
    await Promise.all(this.pods.map((p) => p.whenReady(readyTimeoutMs)));
  }

  /** The ready pods' URLs, in pod order. */
  endpoints(): string[] {
    return this.pods.filter((p) => p.ready && p.url).map((p) => p.url!);
  }

  /** One pod at a time: terminate it, start it again on its port, wait until it is ready, then the next. */
  async rollingRestart(readyTimeoutMs = 60_000): Promise<void> {
    for (const p of this.pods) {
      await p.terminate();
      p.start();
      await p.whenReady(readyTimeoutMs);
    }
  }

  get restarts(): number {
    return this.pods.reduce((s, p) => s + p.restarts, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.pods.map((p) => p.stop()));
  }
}
