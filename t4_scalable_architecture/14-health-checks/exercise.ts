/**
 * EXERCISE 14-health-checks: probes that each answer their own question, and a shutdown that fails no request.
 *
 * As shipped it is before.ts: one health check for both probes that pings Redis, no startup probe, and SIGTERM →
 * exit at once. A Redis blip restarts every replica; a rolling restart fails the requests in flight and those the
 * balancer sends before it notices; a cold start is killed as "stuck".
 *
 * Yours to write (types in after.ts):
 *   - `liveness(h)`: the kubelet restarts the process when this is false `failureThreshold` times in a row;
 *   - `readiness(h)`: the balancer sends requests only while this is true (nothing restarts);
 *   - `plan(measured)`: the startup / liveness / readiness probes and the shutdown timings, from the measured
 *     start-up (`startupMs`, the slowest seen) and the longest request (`longestRequestMs`);
 *   - `shutdown(steps, plan)`: what happens on SIGTERM, with `steps.notReady()`, `steps.drain()`, `steps.cutAll()`,
 *     `steps.exit()` and `steps.sleep(ms)` (use it: the checkpoint runs on a virtual clock).
 *
 * What must hold (checked by `npm run checkpoint -- 14-health-checks`; requests counted in virtual ms, nothing timed):
 *   - Redis down, still warming, or shutting down: live. Event loop blocked for 30 s: not live;
 *   - ready only when warm, Redis answers and no shutdown has begun;
 *   - a cold start of 8 s is not killed: whatever may kill a starting process (a startup probe, or liveness when there
 *     is none) gives it at least 1.5 × the measured start-up; the drain deadline covers the longest request and the
 *     kubelet's SIGKILL (`terminationGraceMs`) comes after preStop + drain;
 *   - a shutdown behind a balancer that probes readiness every `plan.readiness.periodMs` (taking the replica out after
 *     `failureThreshold` failures) under a request every 5 ms: 0 requests cut in flight, 0 refused by a closed
 *     listener, and a 60 s request cut at the drain deadline so the process exits by itself before the SIGKILL.
 *
 * Then see your code in real processes (a Redis blip and a rolling restart of replicas under load):
 *   npm run t4 -- --only 14-health-checks --impl exercise --quick
 * Stuck? npm run hint -- 14-health-checks
 */
/** What a probe handler knows about its process. */
export interface PodHealth {
  /** How long the event loop was last blocked, ms (monitorEventLoopDelay max over the last second). */
  eventLoopDelayMs: number;
  /** The index is loaded and a first request has warmed it. */
  warm: boolean;
  /** The dependencies a request needs answer (replica.ts: Redis's last PONG is at most 1.5 s old). */
  depsOk: boolean;
  /** SIGTERM arrived: the process is on its way out. */
  shuttingDown: boolean;
}

/** A probe as the kubelet runs it: every `periodMs`; `failureThreshold` failures in a row act. */
export interface Probe {
  periodMs: number;
  failureThreshold: number;
  /** An answer slower than this is a failure, ms. */
  timeoutMs: number;
}

/** The probes and the shutdown timings of one service, derived from what was measured. */
export interface HealthPlan {
  /** Holds liveness and readiness off until its first success; `undefined`: no startup probe (liveness from the start). */
  startup?: Probe;
  liveness: Probe;
  readiness: Probe;
  /** After SIGTERM, how long to keep serving with readiness false before closing, ms. */
  preStopMs: number;
  /** Then, how long in-flight requests may take to finish before the rest is cut, ms. */
  drainMs: number;
  /** The kubelet's SIGKILL after SIGTERM (`terminationGracePeriodSeconds`), ms. */
  terminationGraceMs: number;
}

/** What the plan is derived from. */
export interface Measured {
  /** Process start → first readiness success, the slowest seen (a cold start), ms. */
  startupMs: number;
  /** The longest request the service is asked to finish (its clients' deadline), ms. */
  longestRequestMs: number;
}

/** The steps a shutdown can take on the real server (replica.ts) or the simulated one (the checkpoint). */
export interface ShutdownSteps {
  /** `/readyz` answers 503 from now on; requests are still served. */
  notReady(): void;
  /** Stop accepting connections; in-flight requests finish; kept-alive connections close once idle. Resolves when every connection is closed. */
  drain(): Promise<void>;
  /** Cut every connection still open (their requests fail). */
  cutAll(): void;
  /** Leave the process. */
  exit(code: number): void;
  /** Waits `ms` (a timer in the process; the checkpoint's virtual clock). */
  sleep(ms: number): Promise<void>;
}

/** Blocked longer than this, the process is stuck: restarting it is the cure. */
export const STUCK_MS = 5_000;

export function liveness(h: PodHealth): boolean {
  return h.depsOk;
}

export function readiness(h: PodHealth): boolean {
  return h.depsOk;
}

export function plan(m: Measured): HealthPlan {
  return {
    startup: undefined,
    liveness: { periodMs: 1_500, failureThreshold: 3, timeoutMs: 1_000 },
    readiness: { periodMs: 250, failureThreshold: 2, timeoutMs: 1_000 },
    preStopMs: 0,
    drainMs: m.longestRequestMs,
    terminationGraceMs: 30_000,
  };
}

export async function shutdown(steps: ShutdownSteps, _p: HealthPlan): Promise<void> {
  steps.exit(0);
}
