/**
 * AFTER 14-health-checks: three probes that each answer their own question, and a shutdown that lets the balancer
 * leave first.
 *
 * - **Liveness** (`/healthz`, a failure restarts the process): "is this process stuck?". Only what a restart can
 *   cure: the event loop turns (the probe got an answer at all) and has not been blocked for `STUCK_MS`. Never a
 *   dependency: Redis down on every replica at once is not cured by restarting every replica; it only adds their
 *   start-up to the outage.
 * - **Readiness** (`/readyz`, a failure takes the instance out of the balancer, nothing restarts): "can this process
 *   answer a request now?". Loaded and warm, its dependencies answer, and not shutting down.
 * - **Startup** (the kubelet's `startupProbe`): holds liveness off until the first success, for as long as the
 *   *measured* start-up takes with room to spare, so a slow (cold) start is not killed as "stuck".
 * - **Shutdown** on SIGTERM: readiness false at once; keep serving for `preStopMs` (the balancer needs its readiness
 *   period × failure threshold to notice); then stop accepting, let in-flight requests finish and close kept-alive
 *   connections as they go idle, with a deadline; exit. The same sequence as shared/services/shard-service.ts
 *   `serviceMain` (RAG_PRESTOP_MS, RAG_DRAIN_MS) for the engine's services.
 *
 * Used by replica.ts (the real process the bench starts) and by the checkpoint's simulated balancer.
 */

/** What a probe handler knows about its process. */
export interface PodHealth {
  /** How long the event loop was last blocked, ms (monitorEventLoopDelay max over the last second). */
  eventLoopDelayMs: number;
  /** The index is loaded and a first request has warmed it. */
  warm: boolean;
  /** The dependencies a request needs answer (replica.ts: Redis's last PING got PONG within 1 s). */
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
  return h.eventLoopDelayMs < STUCK_MS;
}

export function readiness(h: PodHealth): boolean {
  return h.warm && h.depsOk && !h.shuttingDown;
}

export function plan(m: Measured): HealthPlan {
  // two failures in a row, so one slow probe on a busy node does not take a healthy replica out
  const readinessProbe: Probe = { periodMs: 250, failureThreshold: 2, timeoutMs: 1_000 };
  const startup: Probe = { periodMs: 250, failureThreshold: Math.ceil((2 * m.startupMs) / 250) + 1, timeoutMs: 1_000 };
  // the balancer notices after up to one period (its phase) + failureThreshold periods, the last probe taking up to its timeout
  const preStopMs = readinessProbe.periodMs * (readinessProbe.failureThreshold + 1) + readinessProbe.timeoutMs;
  const drainMs = 2 * m.longestRequestMs;
  return {
    startup,
    liveness: { periodMs: 1_000, failureThreshold: 3, timeoutMs: 1_000 },
    readiness: readinessProbe,
    preStopMs,
    drainMs,
    // room for a busy node's late timers: SIGKILL is for a process that does not leave, not for a slow exit
    terminationGraceMs: preStopMs + drainMs + 5_000,
  };
}

export async function shutdown(steps: ShutdownSteps, p: HealthPlan): Promise<void> {
  steps.notReady();
  await steps.sleep(p.preStopMs);
  let drained = false;
  const drain = steps.drain().then(() => (drained = true));
  await Promise.race([drain, steps.sleep(p.drainMs)]);
  if (!drained) steps.cutAll();
  steps.exit(0);
}
