/**
 * Kubernetes probe timings derived from a service's measured start-up, and the rules they must keep.
 *
 * A probe is the kubelet's `GET <path>` every `periodSeconds`, each allowed `timeoutSeconds`; `failureThreshold`
 * failures in a row act. The three do different jobs (deploy/k8s/README.md):
 *
 *     startup    /healthz  until it first succeeds, the other two are off; failing it `failureThreshold` times
 *                          kills the container. Its budget (period × failureThreshold) must cover a slow start.
 *     readiness  /readyz   failing takes the pod out of its Services' endpoints (no traffic), nothing restarts.
 *                          It may, and should, say "my dependencies are not there" (the gateway: no shard answered).
 *     liveness   /healthz  failing restarts the container. It must check the process only: a liveness probe on a
 *                          dependency restarts every pod when that dependency blips, and the restarts do not help.
 *
 * `deriveProbes` turns start-up samples (t4_scalable_architecture/12-kubernetes/startup.ts: spawn → /readyz 200) into
 * that set; `probeViolations` checks any set against the rules (the lesson's checkpoint and the manifest checker,
 * shared/deploy/k8s-validate.ts, both use it); `simulateProbes` counts what a set does to pods in the situations the
 * rules are about (slow starts, a dependency outage, an event-loop stall, a pod that stops being ready).
 */
import { mulberry32 } from '../util/random.ts';

export interface ProbeSpec {
  /** The HTTP path the kubelet GETs (httpGet.path). */
  path: string;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  /** Default 0. */
  initialDelaySeconds?: number;
}

export interface ProbeSet {
  startup?: ProbeSpec;
  readiness?: ProbeSpec;
  liveness?: ProbeSpec;
}

export interface StartupMeasure {
  /** spawn → first `/readyz` 200 of the service as a process, ms, one per start. */
  startupMs: readonly number[];
  /**
   * Seconds a start may take in the cluster that the samples do not hold (a shard replaying its write log from its
   * snapshot: lesson 04 measured ~0.1 ms per write, so 30 s covers a backlog of ~300k writes). Default 0.
   */
  allowanceS?: number;
}

/** The rules, each with why. */
export const PROBE_RULES = {
  /**
   * Start-up budget ≥ safety × p99 of the samples + allowance. 3×: in the pod the service has a CPU limit of about one
   * core (here it had a free one), a cold page cache for the index, and a node busy starting its neighbours.
   */
  safety: 3,
  /** The startup probe's period: a failed GET of a local port costs nothing, and a shorter one admits traffic sooner. */
  startupPeriodS: 1,
  /** A pod that stops being ready is out of rotation within this many seconds (period × failures + timeout). */
  maxOutOfRotationS: 10,
  /** Liveness tolerates an unresponsive process (a long GC, a stalled event loop) for at least this long. */
  minStallToleratedS: 20,
  /** … and restarts a hung one within this long. */
  maxHangDetectS: 60,
  /** Readiness: the kubelet's GET has this long to answer (the services answer in < 10 ms when healthy). */
  timeoutS: 1,
  /** Paths the services serve without the internal credential (http-rpc.ts, gateway.ts). */
  livenessPath: '/healthz',
  readinessPath: '/readyz',
} as const;

/** The q-quantile (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('no start-up samples');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** The start-up budget the rules ask for, seconds: safety × p99 + allowance. */
export function requiredStartupBudgetS(m: StartupMeasure): number {
  return (PROBE_RULES.safety * quantile(m.startupMs, 0.99)) / 1000 + (m.allowanceS ?? 0);
}

/**
 * The seconds a probe surely gives before it acts: initial delay + period × (failures − 1). The first GET may come at
 * once, and the container is killed at the failureThreshold-th failure, so that is the guaranteed part.
 */
export function probeBudgetS(p: ProbeSpec): number {
  return (p.initialDelaySeconds ?? 0) + p.periodSeconds * (p.failureThreshold - 1);
}

/** The engine's derivation (what the manifests in deploy/k8s carry). */
export function deriveProbes(m: StartupMeasure): ProbeSet {
  const R = PROBE_RULES;
  const budget = requiredStartupBudgetS(m);
  return {
    startup: { path: R.livenessPath, periodSeconds: R.startupPeriodS, timeoutSeconds: R.timeoutS, failureThreshold: Math.max(3, Math.ceil(budget / R.startupPeriodS) + 1) },
    // out of rotation after 2 failed GETs 3 s apart: 3 × 2 + 1 = 7 s ≤ 10 s; one lost GET does not flap it
    readiness: { path: R.readinessPath, periodSeconds: 3, timeoutSeconds: R.timeoutS, failureThreshold: 2 },
    // restarted after 3 failed GETs 10 s apart: a stall of 2 × 10 + 2 = 22 s ≥ 20 s survived, a hung process gone in ≤ 30 s
    liveness: { path: R.livenessPath, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
  };
}

/** What is wrong with a probe set for a service with this start-up, in the lesson's words (empty: nothing). */
export function probeViolations(p: ProbeSet, m: StartupMeasure): string[] {
  const R = PROBE_RULES;
  const out: string[] = [];
  const need = requiredStartupBudgetS(m);
  if (!p.startup) {
    out.push('no startup probe: liveness alone decides when a slow start is killed');
  } else {
    if (p.startup.path !== R.livenessPath) out.push(`startup probe on ${p.startup.path}: it waits for the process (${R.livenessPath}), readiness says when it takes traffic`);
    if (probeBudgetS(p.startup) < need) {
      out.push(`startup budget ${probeBudgetS(p.startup)} s < ${R.safety} × p99 start-up + allowance = ${need.toFixed(1)} s: a slow start is killed before it is ready`);
    }
  }
  if (!p.liveness) {
    out.push('no liveness probe: a hung process is never restarted');
  } else {
    const l = p.liveness;
    if (l.path === R.readinessPath) out.push(`liveness probe checks ${R.readinessPath}, which fails when a dependency does: a dependency blip restarts every pod`);
    else if (l.path !== R.livenessPath) out.push(`liveness probe on ${l.path}: the process check is ${R.livenessPath}`);
    const tolerated = l.periodSeconds * (l.failureThreshold - 1) + l.timeoutSeconds;
    if (tolerated < R.minStallToleratedS) out.push(`liveness gives up after ${tolerated} s of silence (< ${R.minStallToleratedS} s): one long GC or event-loop stall restarts the pod`);
    if (l.periodSeconds * l.failureThreshold + l.timeoutSeconds > R.maxHangDetectS) out.push(`liveness restarts a hung process only after ${l.periodSeconds * l.failureThreshold + l.timeoutSeconds} s (bound ${R.maxHangDetectS} s)`);
    if (p.startup && (l.initialDelaySeconds ?? 0) > 0) out.push('liveness initialDelaySeconds with a startup probe: the startup probe already holds liveness off');
  }
  if (!p.readiness) {
    out.push('no readiness probe: a pod gets traffic before it can answer and keeps it when it cannot');
  } else {
    const r = p.readiness;
    if (r.path !== R.readinessPath) out.push(`readiness probe on ${r.path}: only ${R.readinessPath} knows whether the service can answer`);
    const out_ = r.periodSeconds * r.failureThreshold + r.timeoutSeconds;
    if (out_ > R.maxOutOfRotationS) out.push(`a pod that stopped being ready keeps traffic for ${out_} s (bound ${R.maxOutOfRotationS} s)`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// What a probe set does, counted (a discrete model of the kubelet's prober, 0.1 s steps)


/**
 * Does the kubelet restart a container whose probe fails while `failing(t)` is true (t in s from container start),
 * within `horizonS`? GETs go at initialDelay + phase + k × period. A refused connection or a 503 fails a GET at once;
 * with `late` (a stalled event loop) the GET waits, and fails only if the stall outlasts its timeout.
 */
export function restartedBy(p: ProbeSpec, failing: (t: number) => boolean, horizonS: number, phase = 0, late = false): boolean {
  let run = 0;
  for (let t = (p.initialDelaySeconds ?? 0) + phase; t <= horizonS; t += p.periodSeconds) {
    const fails = failing(t) && (!late || failing(t + p.timeoutSeconds));
    run = fails ? run + 1 : 0;
    if (run >= p.failureThreshold) return true;
  }
  return false;
}

export interface ProbeOutcomes {
  /** Of `starts` simulated starts (samples × a slowdown of 1-3× + 0-allowance s), how many were killed while starting. */
  killedStarting: number;
  starts: number;
  /** Of `pods` pods, how many a 30 s outage of a dependency (readiness fails, the process is fine) restarted. */
  restartedByDependencyBlip: number;
  pods: number;
  /** Of 100 probe phases, in how many a 5 s event-loop stall (no GET answered) restarted the pod. */
  restartedByStall: number;
  /** Seconds a pod that stops being ready (at a random moment) keeps receiving traffic, worst of 100 phases. */
  trafficAfterNotReadyS: number;
}

export function simulateProbes(p: ProbeSet, m: StartupMeasure, seed = 12): ProbeOutcomes {
  const rand = mulberry32(seed); // seeded: the same draws on every machine
  const starts = 1000;
  let killedStarting = 0;
  for (let i = 0; i < starts; i++) {
    const startS = (m.startupMs[Math.floor(rand() * m.startupMs.length)] / 1000) * (1 + 2 * rand()) + rand() * (m.allowanceS ?? 0);
    const notUp = (t: number) => t < startS;
    // the startup probe guards the start; without one, liveness (after its initial delay) does
    const guard = p.startup ?? p.liveness;
    if (guard && restartedBy(guard, notUp, startS + 1, rand() * guard.periodSeconds)) killedStarting++;
  }
  const pods = 3;
  let restartedByDependencyBlip = 0;
  for (let i = 0; i < pods; i++) {
    const dependencyDown = (t: number) => t >= 0 && t < 30;
    const l = p.liveness;
    if (l && l.path === PROBE_RULES.readinessPath && restartedBy({ ...l, initialDelaySeconds: 0 }, dependencyDown, 40, (i / pods) * l.periodSeconds)) restartedByDependencyBlip++;
  }
  let restartedByStall = 0;
  let trafficAfterNotReadyS = 0;
  for (let k = 0; k < 100; k++) {
    const l = p.liveness;
    if (l) {
      const phase = (k / 100) * l.periodSeconds;
      if (restartedBy({ ...l, initialDelaySeconds: 0 }, (t) => t >= 2 && t < 7, 30, phase, true)) restartedByStall++;
    }
    const r = p.readiness;
    if (!r) {
      trafficAfterNotReadyS = Infinity;
      continue;
    }
    // not ready from t = 0; GETs at phase + j × period; removed after failureThreshold failures (+ the last timeout)
    const phase = (k / 100) * r.periodSeconds;
    const removedAt = phase + (r.failureThreshold - 1) * r.periodSeconds + r.timeoutSeconds;
    trafficAfterNotReadyS = Math.max(trafficAfterNotReadyS, removedAt);
  }
  return { killedStarting, starts, restartedByDependencyBlip, pods, restartedByStall, trafficAfterNotReadyS };
}
