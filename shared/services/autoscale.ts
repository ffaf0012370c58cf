/**
 * The Horizontal Pod Autoscaler's rule, as Kubernetes computes it, and a simulator that runs it (or any other
 * scaler) on a load curve with a queueing model (t4 lesson 13, autoscaling).
 *
 *     const hpa = new HpaController(spec);                    // spec: parseHpaYaml(...) or defaultHpaSpec(...)
 *     hpa.reconcile(nowMs, currentReplicas, [podsQps, podsCpu]).desired   // one sync (every 15 s in a cluster)
 *     simulate(dailyCurve(), (now, cur, pods) => hpa.reconcile(now, cur, [pods]).desired, { capacityQps: 431 })
 *
 * What it follows (kubernetes/pkg/controller/podautoscaler: replica_calculator.go, horizontal.go; the HPA docs):
 *
 * - **The ratio.** For each metric, usageRatio = (average over the *ready* pods with a metric) ÷ target, and
 *   desired = ceil(usageRatio × readyPods). Within the **tolerance** (|1 − ratio| ≤ 0.1) nothing changes.
 * - **Pods that are not ready or have no metric.** Missing metrics count as 100% of the target on a scale-down and
 *   0 on a scale-up; pods still starting (not ready) are left out, and on a scale-up count as 0: a pod that is
 *   coming is assumed to take its share, so a scale-up is not repeated while the new pods start. After that
 *   rebalancing, if the ratio falls within the tolerance or flips direction, the replicas stay.
 * - **Several metrics**: the largest desired count wins.
 * - **Behaviour** (autoscaling/v2 `spec.behavior`): the recommendation is *stabilized* (scale-up: the lowest
 *   recommendation of the last `stabilizationWindowSeconds`, default 0; scale-down: the highest of the last 300 s),
 *   then *rate-limited* by the policies (`Pods` n or `Percent` p per `periodSeconds`, measured from the replica
 *   count at the start of the period; `selectPolicy` Max = the policy allowing the largest change, Min the smallest,
 *   Disabled = no scaling in that direction); defaults: up max(+100%, +4 pods) per 15 s, down 100% per 15 s.
 * - **min/max replicas** bound the result; a current count outside them is brought inside at once.
 *
 * Times are in ms throughout (Kubernetes' seconds × 1000), so a checkpoint can drive it on a virtual clock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mulberry32 } from '../util/random.ts';
import { REPO_ROOT } from '../util/paths.ts';

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  /** Max (default): the policy that allows the largest change; Min: the smallest; Disabled: no scaling this way. */
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

export interface Behavior {
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
}

/** Kubernetes' defaults for `spec.behavior` (autoscaling/v2). */
export const DEFAULT_SCALE_UP: ScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: ScalingRules = { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] };

/** The controller's defaults: `--horizontal-pod-autoscaler-tolerance` and `--horizontal-pod-autoscaler-sync-period`. */
export const DEFAULT_TOLERANCE = 0.1;
export const DEFAULT_SYNC_SECONDS = 15;

/** A metric the HPA scales on: a per-pod average (`type: Pods`) or CPU utilization of the request (`type: Resource`). */
export type MetricSpec = { type: 'Pods'; name: string; averageValue: number } | { type: 'Resource'; name: 'cpu'; averageUtilization: number };

export interface HpaSpec {
  name: string;
  minReplicas: number;
  maxReplicas: number;
  metrics: MetricSpec[];
  behavior: Behavior;
  tolerance: number;
  syncPeriodSeconds: number;
}

/** What the controller sees of one pod for one metric. */
export interface PodMetric {
  /** Ready (passes its readiness probe). A pod still starting is not. */
  ready: boolean;
  /** The pod's value of the metric (QPS, CPU %); undefined = no sample yet (missing). */
  value?: number;
}

/**
 * replica_calculator.go's rule for one metric (`calcPlainMetricReplicas`): the desired replica count for `target`
 * (a per-pod average), given every pod the controller counts. Returns `current` when no ready pod has a sample.
 */
export function replicasForMetric(current: number, pods: readonly PodMetric[], target: number, tolerance = DEFAULT_TOLERANCE): number {
  if (!(target > 0)) throw new RangeError(`the metric's target must be > 0 (got ${target})`);
  const readyVals: number[] = [];
  let missing = 0;
  let unready = 0;
  for (const p of pods) {
    if (!p.ready) unready++;
    else if (p.value === undefined || !Number.isFinite(p.value)) missing++;
    else readyVals.push(p.value);
  }
  if (readyVals.length === 0) return current;
  const usageRatio = mean(readyVals) / target;
  const rebalanceUnready = unready > 0 && usageRatio > 1;
  if (!rebalanceUnready && missing === 0) {
    if (Math.abs(1 - usageRatio) <= tolerance) return current;
    return Math.ceil(usageRatio * readyVals.length);
  }
  const vals = [...readyVals];
  // a missing pod: at the target on a scale-down (do not remove it on no evidence), idle on a scale-up
  for (let i = 0; i < missing; i++) vals.push(usageRatio < 1 ? target : 0);
  // a pod still starting is coming to take its share: on a scale-up it counts, idle
  if (rebalanceUnready) for (let i = 0; i < unready; i++) vals.push(0);
  const newRatio = mean(vals) / target;
  if (Math.abs(1 - newRatio) <= tolerance || (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1)) return current;
  const next = Math.ceil(newRatio * vals.length);
  if ((newRatio < 1 && next > current) || (newRatio > 1 && next < current)) return current;
  return next;
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** One sync's outcome. */
export interface HpaDecision {
  /** The replica count to set. */
  desired: number;
  /** From the metrics alone (largest over the metrics), before stabilization and rate limits. */
  proposed: number;
  /** After the stabilization windows. */
  stabilized: number;
  /** Why `desired` differs from `proposed`, if it does. */
  reason: 'metrics' | 'below-min' | 'above-max' | 'stabilized' | 'rate-limited' | 'bounded';
}

interface Stamped {
  at: number;
  n: number;
}

/**
 * The HPA controller for one target: keeps the recommendations (for the stabilization windows) and the scale events
 * (for the rate policies) between syncs, like horizontal.go's `recommendations` and `scaleUpEvents`/`scaleDownEvents`.
 */
export class HpaController {
  private readonly recs: Stamped[] = [];
  private readonly ups: Stamped[] = [];
  private readonly downs: Stamped[] = [];
  private started = false;

  constructor(readonly spec: HpaSpec) {
    if (spec.minReplicas < 1 || spec.maxReplicas < spec.minReplicas) throw new RangeError(`replicas: need 1 ≤ min (${spec.minReplicas}) ≤ max (${spec.maxReplicas})`);
    if (spec.metrics.length === 0) throw new RangeError(`HPA ${spec.name}: no metrics to scale on`);
  }

  /**
   * One sync at `now` (ms). `podsByMetric[i]` is every pod's sample of `spec.metrics[i]` (a Pods metric in its unit,
   * CPU as % of the request). Returns the replica count to set; call it again after `syncPeriodSeconds`.
   */
  reconcile(now: number, current: number, podsByMetric: readonly (readonly PodMetric[])[]): HpaDecision {
    const { spec } = this;
    if (!this.started) {
      // a restarted controller does not scale down on its first sync: the current count is a recommendation
      this.recs.push({ at: now, n: current });
      this.started = true;
    }
    if (current > spec.maxReplicas) return this.done(now, current, { desired: spec.maxReplicas, proposed: spec.maxReplicas, stabilized: spec.maxReplicas, reason: 'above-max' });
    if (current < spec.minReplicas) return this.done(now, current, { desired: spec.minReplicas, proposed: spec.minReplicas, stabilized: spec.minReplicas, reason: 'below-min' });
    let proposed = 0;
    spec.metrics.forEach((m, i) => {
      const pods = podsByMetric[i] ?? [];
      const target = m.type === 'Pods' ? m.averageValue : m.averageUtilization;
      proposed = Math.max(proposed, replicasForMetric(current, pods, target, spec.tolerance));
    });
    const stabilized = this.stabilize(now, current, proposed);
    const desired = this.rateLimit(now, current, stabilized);
    const reason = desired !== stabilized ? (desired === spec.maxReplicas || desired === spec.minReplicas ? 'bounded' : 'rate-limited') : stabilized !== proposed ? 'stabilized' : 'metrics';
    return this.done(now, current, { desired, proposed, stabilized, reason });
  }

  private done(now: number, current: number, d: HpaDecision): HpaDecision {
    if (d.desired > current) this.ups.push({ at: now, n: d.desired - current });
    if (d.desired < current) this.downs.push({ at: now, n: current - d.desired });
    const keep = now - 1000 * this.longestPeriod();
    prune(this.ups, keep);
    prune(this.downs, keep);
    return d;
  }

  private longestPeriod(): number {
    const ps = [...this.spec.behavior.scaleUp.policies, ...this.spec.behavior.scaleDown.policies].map((p) => p.periodSeconds);
    return Math.max(0, ...ps);
  }

  /** horizontal.go `stabilizeRecommendationWithBehaviors`. */
  private stabilize(now: number, current: number, proposed: number): number {
    const { scaleUp, scaleDown } = this.spec.behavior;
    const upCut = now - 1000 * scaleUp.stabilizationWindowSeconds;
    const downCut = now - 1000 * scaleDown.stabilizationWindowSeconds;
    let up = proposed;
    let down = proposed;
    for (const r of this.recs) {
      if (r.at > upCut) up = Math.min(up, r.n);
      if (r.at > downCut) down = Math.max(down, r.n);
    }
    let rec = current;
    if (rec < up) rec = up;
    if (rec > down) rec = down;
    this.recs.push({ at: now, n: proposed });
    prune(this.recs, Math.min(upCut, downCut));
    return rec;
  }

  /** horizontal.go `convertDesiredReplicasWithBehaviorRate`: the policies, then min/max. */
  private rateLimit(now: number, current: number, desired: number): number {
    const { spec } = this;
    if (desired > current) {
      let limit = scaleLimit('up', current, now, this.ups, this.downs, spec.behavior.scaleUp);
      if (limit < current) limit = current;
      return Math.min(desired, spec.maxReplicas, limit);
    }
    if (desired < current) {
      let limit = scaleLimit('down', current, now, this.ups, this.downs, spec.behavior.scaleDown);
      if (limit > current) limit = current;
      return Math.max(desired, spec.minReplicas, limit);
    }
    return desired;
  }
}

function prune(xs: Stamped[], before: number): void {
  while (xs.length > 0 && xs[0].at <= before) xs.shift();
}

function changedWithin(events: readonly Stamped[], now: number, periodSeconds: number): number {
  let n = 0;
  for (const e of events) if (e.at > now - 1000 * periodSeconds) n += e.n;
  return n;
}

/** horizontal.go `calculateScaleUpLimitWithScalingRules` / `calculateScaleDownLimitWithBehaviors`. */
function scaleLimit(dir: 'up' | 'down', current: number, now: number, ups: readonly Stamped[], downs: readonly Stamped[], rules: ScalingRules): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pickLargestChange = rules.selectPolicy !== 'Min';
  let result = dir === 'up' ? (pickLargestChange ? -Infinity : Infinity) : pickLargestChange ? Infinity : -Infinity;
  for (const p of rules.policies) {
    const periodStart = current - changedWithin(ups, now, p.periodSeconds) + changedWithin(downs, now, p.periodSeconds);
    let proposed: number;
    if (dir === 'up') proposed = p.type === 'Pods' ? periodStart + p.value : Math.ceil(periodStart * (1 + p.value / 100));
    else proposed = p.type === 'Pods' ? periodStart - p.value : Math.trunc(periodStart * (1 - p.value / 100));
    if (dir === 'up') result = pickLargestChange ? Math.max(result, proposed) : Math.min(result, proposed);
    else result = pickLargestChange ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return Number.isFinite(result) ? result : current;
}

// ---------------------------------------------------------------------------------------------------------------
// The HPA manifest

/** The HPA the lesson reads, written with the Kubernetes manifests (lesson 12). */
export const HPA_MANIFEST = 'deploy/k8s/base/hpa-gateway.yaml';
/** The Pods metric of the gateway's HPA (served by the custom-metrics adapter from Prometheus). */
export const QPS_METRIC = 'rag_gateway_requests_per_second';

/** A Kubernetes quantity as a number: '300', '1.5k', '250m', '2Ki'. */
export function parseQuantity(q: unknown): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') throw new Error(`not a quantity: ${JSON.stringify(q)}`);
  const m = /^([+-]?\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(q.trim());
  if (!m) throw new Error(`not a quantity: ${JSON.stringify(q)}`);
  const mult: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

function rules(raw: unknown, defaults: ScalingRules, where: string): ScalingRules {
  if (raw === undefined || raw === null) return defaults;
  if (typeof raw !== 'object') throw new Error(`${where}: not a mapping`);
  const r = raw as { stabilizationWindowSeconds?: number; selectPolicy?: string; policies?: { type: string; value: number; periodSeconds: number }[] };
  const sel = r.selectPolicy ?? 'Max';
  if (!['Max', 'Min', 'Disabled'].includes(sel)) throw new Error(`${where}.selectPolicy: ${sel} (Max, Min or Disabled)`);
  const policies = (r.policies ?? defaults.policies).map((p, i) => {
    if (p.type !== 'Pods' && p.type !== 'Percent') throw new Error(`${where}.policies[${i}].type: ${p.type} (Pods or Percent)`);
    if (!(p.value > 0) || !(p.periodSeconds > 0)) throw new Error(`${where}.policies[${i}]: value and periodSeconds must be > 0`);
    return { type: p.type, value: p.value, periodSeconds: p.periodSeconds } as ScalingPolicy;
  });
  return { stabilizationWindowSeconds: r.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds, selectPolicy: sel as ScalingRules['selectPolicy'], policies };
}

/**
 * An autoscaling/v2 HorizontalPodAutoscaler (YAML text, one document or several: the first HPA is taken) as an
 * HpaSpec. Metrics other than CPU utilization and Pods averages are refused with a message.
 */
export function parseHpaYaml(text: string): HpaSpec {
  const docs = text
    .split(/^---\s*$/m)
    .map((d) => parseYaml(d) as Record<string, any> | null)
    .filter((d): d is Record<string, any> => !!d && d.kind === 'HorizontalPodAutoscaler');
  const hpa = docs[0];
  if (!hpa) throw new Error('no HorizontalPodAutoscaler in the YAML');
  if (hpa.apiVersion !== 'autoscaling/v2') throw new Error(`apiVersion ${hpa.apiVersion}: autoscaling/v2 expected`);
  const s = hpa.spec ?? {};
  const metrics: MetricSpec[] = (s.metrics ?? []).map((m: any, i: number): MetricSpec => {
    if (m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.type === 'Utilization')
      return { type: 'Resource', name: 'cpu', averageUtilization: Number(m.resource.target.averageUtilization) };
    if (m.type === 'Pods' && m.pods?.target?.type === 'AverageValue') return { type: 'Pods', name: String(m.pods.metric?.name), averageValue: parseQuantity(m.pods.target.averageValue) };
    throw new Error(`spec.metrics[${i}]: only Resource cpu Utilization and Pods AverageValue are simulated (got ${m.type})`);
  });
  return {
    name: String(hpa.metadata?.name ?? 'hpa'),
    minReplicas: Number(s.minReplicas ?? 1),
    maxReplicas: Number(s.maxReplicas),
    metrics,
    behavior: { scaleUp: rules(s.behavior?.scaleUp, DEFAULT_SCALE_UP, 'spec.behavior.scaleUp'), scaleDown: rules(s.behavior?.scaleDown, DEFAULT_SCALE_DOWN, 'spec.behavior.scaleDown') },
    tolerance: DEFAULT_TOLERANCE,
    syncPeriodSeconds: DEFAULT_SYNC_SECONDS,
  };
}

/** The spec used when the manifest is absent: a QPS target at 70% of one replica's capacity, CPU at 70%, 1-10 replicas. */
export function defaultHpaSpec(capacityQps: number): HpaSpec {
  return {
    name: 'rag-gateway (defaults)',
    minReplicas: 1,
    maxReplicas: 10,
    metrics: [
      { type: 'Resource', name: 'cpu', averageUtilization: 70 },
      { type: 'Pods', name: QPS_METRIC, averageValue: Math.round(0.7 * capacityQps) },
    ],
    behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: DEFAULT_SCALE_DOWN },
    tolerance: DEFAULT_TOLERANCE,
    syncPeriodSeconds: DEFAULT_SYNC_SECONDS,
  };
}

/** The gateway's HPA from the manifests when they exist, else `defaultHpaSpec`; `source` says which. */
export function loadHpaSpec(capacityQps: number, file = path.join(REPO_ROOT, HPA_MANIFEST)): { spec: HpaSpec; source: string } {
  if (!fs.existsSync(file)) return { spec: defaultHpaSpec(capacityQps), source: `defaults (${path.relative(REPO_ROOT, file)} not found)` };
  return { spec: parseHpaYaml(fs.readFileSync(file, 'utf8')), source: path.relative(REPO_ROOT, file) };
}

/** Fallback per-replica capacity when lesson 05's reference run is absent (its 2026-12-01 figure). */
export const FALLBACK_CAPACITY_QPS = 431;

/** One replica's measured throughput: lesson 05's reference run (1 replica behind one gateway), else the fallback. */
export function measuredCapacity(file = path.join(REPO_ROOT, 't4_scalable_architecture/05-scaling-out/reference.json')): { qps: number; source: string } {
  try {
    const ref = JSON.parse(fs.readFileSync(file, 'utf8')) as { runId?: string; headline?: { rows?: { variant: string; value: number }[] } };
    const one = ref.headline?.rows?.find((r) => r.variant === 'before')?.value;
    if (one && one > 0) return { qps: one, source: `t4/05-scaling-out reference run ${ref.runId ?? ''} (1 replica)`.trim() };
  } catch {
    /* absent or unreadable: the fallback */
  }
  return { qps: FALLBACK_CAPACITY_QPS, source: `fallback constant ${FALLBACK_CAPACITY_QPS} QPS (05's reference.json not found)` };
}

// ---------------------------------------------------------------------------------------------------------------
// Load curve, queueing model, simulation

export interface LoadCurve {
  /** Seconds between points (the sync period: one decision per point). */
  stepSeconds: number;
  /** Offered load at each point, requests per second. */
  qps: number[];
  description: string;
}

export interface DailyCurveOptions {
  /** Highest load of the daily shape (without the spike), QPS. */
  peakQps: number;
  /** Lowest (night) load as a share of the peak. Default 0.15. */
  nightShare?: number;
  /** Seconds between points. Default 15 (the HPA's sync period). */
  stepSeconds?: number;
  /** Length, hours. Default 24. */
  hours?: number;
  /** A spike: from `atHour`, for `minutes`, the load × `factor` (reached over one minute). Default 14:00, 10 min, × 2. */
  spike?: { atHour: number; minutes: number; factor: number } | null;
  /** Seeded noise, ± share of the load per point. Default 0.04. */
  noise?: number;
  seed?: number;
}

/**
 * A generated day of traffic (deterministic for a seed, not a recording): night low at 04:00, a morning peak at
 * 11:00, an evening peak at 20:00 (the daily peak), a spike in the afternoon, ±4% noise per 15 s.
 */
export function dailyCurve(o: DailyCurveOptions): LoadCurve {
  const step = o.stepSeconds ?? 15;
  const hours = o.hours ?? 24;
  const night = o.nightShare ?? 0.15;
  const spike = o.spike === undefined ? { atHour: 14, minutes: 10, factor: 2 } : o.spike;
  const noise = o.noise ?? 0.04;
  const rand = mulberry32(o.seed ?? 13);
  const bump = (h: number, at: number, width: number) => Math.exp(-((((h - at + 36) % 24) - 12) ** 2) / (2 * width * width));
  const shape = (h: number) => Math.max(0.82 * bump(h, 11, 2.2), bump(h, 20, 2.0), 0.45 * bump(h, 15.5, 2.5));
  const peakShape = Math.max(...Array.from({ length: 24 * 60 }, (_, i) => shape(i / 60)));
  const qps: number[] = [];
  for (let t = 0; t < hours * 3600; t += step) {
    const h = t / 3600;
    let load = o.peakQps * (night + (1 - night) * (shape(h) / peakShape));
    if (spike) {
      const into = (h - spike.atHour) * 60;
      if (into >= 0 && into < spike.minutes) load *= 1 + (spike.factor - 1) * Math.min(1, into);
    }
    qps.push(Math.max(0, load * (1 + noise * (2 * rand() - 1))));
  }
  const sp = spike ? `, a spike ×${spike.factor} at ${spike.atHour}:00 for ${spike.minutes} min` : '';
  return { stepSeconds: step, qps, description: `${hours} h generated (seed ${o.seed ?? 13}): peak ${Math.round(o.peakQps)} QPS at 20:00, night ${Math.round(night * 100)}% at 04:00${sp}, ±${Math.round(noise * 100)}% noise per ${step} s` };
}

/** Erlang C: the probability that a request waits in an M/M/c queue (c servers, offered load a = λ/μ < c). */
export function erlangC(c: number, a: number): number {
  // the Erlang B recursion, then C from B (stable for large c)
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  const rho = a / c;
  return b / (1 - rho + rho * b);
}

/**
 * The p99 of the response time (wait + service), ms, of an M/M/c queue: Poisson arrivals at `lambda` per s, c
 * replicas each serving `mu` per s with exponential service times. P(T > t) = e^{-μt} + μ·Pw·(e^{-μt} − e^{-θt})/(θ − μ),
 * θ = cμ − λ, solved for 0.01. Infinity when λ ≥ cμ (the queue grows without bound).
 */
export function mmcP99Ms(lambda: number, mu: number, c: number, q = 0.99): number {
  if (c <= 0) return Infinity;
  if (lambda <= 0) return (1000 * -Math.log(1 - q)) / mu;
  if (lambda >= c * mu) return Infinity;
  const pw = erlangC(c, lambda / mu);
  const theta = c * mu - lambda;
  const tail = (t: number) => {
    const a = Math.exp(-mu * t);
    const d = theta - mu;
    const mix = Math.abs(d) < 1e-9 ? mu * pw * t * a : (mu * pw * (a - Math.exp(-theta * t))) / d;
    return a + mix;
  };
  let lo = 0;
  let hi = 1 / mu;
  while (tail(hi) > 1 - q) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (tail(mid) > 1 - q) lo = mid;
    else hi = mid;
  }
  return 1000 * hi;
}

/** Any scaler: at `now` (ms), `current` pods (starting ones included), each pod's metric → the replica count to set. */
export type ScaleDecide = (now: number, current: number, pods: readonly PodMetric[]) => number;

export interface SimOptions {
  /** One replica's throughput, QPS (μ). */
  capacityQps: number;
  /** From a new pod's creation to ready, s. Default 20 (container start + the engine's index load + probes). */
  startupSeconds?: number;
  /** Replicas at the start. Default 1. */
  initialReplicas?: number;
  /** Seeded ± noise on each pod's sample. Default 0.03. */
  podNoise?: number;
  /** A request that waits longer fails, ms. Default 1000 (the gateway's deadline). */
  deadlineMs?: number;
  /** The p99 target steps are judged against, ms. Default 200. */
  sloMs?: number;
  seed?: number;
}

export interface SimStep {
  t: number;
  qps: number;
  replicas: number;
  ready: number;
  p99Ms: number;
}

export interface SimResult {
  steps: SimStep[];
  /** Σ pods (starting ones included) × step seconds. */
  replicaSeconds: number;
  /** Requests offered over the run. */
  requests: number;
  /** Requests in steps whose p99 exceeded `sloMs`. */
  requestsOverSlo: number;
  /** Requests in steps where the queue outgrew the deadline (their wait exceeded it): failed. */
  requestsFailed: number;
  /** Times the replica count changed. */
  scaleEvents: number;
  /** Worst step p99, ms (capped at the deadline). */
  worstP99Ms: number;
  /** The request-weighted 99th percentile of the step p99s, ms. */
  p99OfStepsMs: number;
  minReplicas: number;
  maxReplicas: number;
}

/**
 * Runs `decide` once per point of `curve`: the load is spread evenly over the ready pods, each pod reports its
 * metric, the decision adds pods (ready `startupSeconds` later) or removes them (those still starting first, then
 * the newest, as a ReplicaSet does). The latency of each step is an M/M/c model with c = ready pods and μ =
 * `capacityQps`; while the load exceeds c·μ a backlog builds (fluid model) and its drain time is added.
 */
export function simulate(curve: LoadCurve, decide: ScaleDecide, o: SimOptions): SimResult {
  const mu = o.capacityQps;
  const startup = 1000 * (o.startupSeconds ?? 20);
  const deadline = o.deadlineMs ?? 1000;
  const slo = o.sloMs ?? 200;
  const noise = o.podNoise ?? 0.03;
  const rand = mulberry32(o.seed ?? 5);
  const dt = curve.stepSeconds;
  let pods: number[] = Array.from({ length: o.initialReplicas ?? 1 }, () => -Infinity); // readyAt, ms
  let backlog = 0;
  const steps: SimStep[] = [];
  const res = { replicaSeconds: 0, requests: 0, requestsOverSlo: 0, requestsFailed: 0, scaleEvents: 0 };
  const weighted: { p99: number; n: number }[] = [];
  for (let i = 0; i < curve.qps.length; i++) {
    const t = i * dt * 1000;
    const lambda = curve.qps[i];
    const ready = pods.filter((r) => r <= t).length;
    const capacity = ready * mu;
    // the step's latency: the queue model, plus the time to drain a backlog carried in or built during the step
    const backlogIn = backlog;
    backlog = Math.max(0, backlog + (lambda - capacity) * dt);
    const drainMs = capacity > 0 ? (1000 * Math.max(backlogIn, backlog)) / capacity : Infinity;
    const base = mmcP99Ms(Math.min(lambda, 0.98 * capacity), mu, ready);
    let p99 = (backlog > 0 || backlogIn > 0 ? base + drainMs : mmcP99Ms(lambda, mu, ready));
    const n = lambda * dt;
    if (!(p99 <= deadline)) {
      p99 = deadline;
      res.requestsFailed += n;
      // requests past the deadline are dropped: the backlog cannot exceed what the deadline lets wait
      backlog = Math.min(backlog, (capacity * deadline) / 1000);
    }
    if (p99 > slo) res.requestsOverSlo += n;
    res.requests += n;
    weighted.push({ p99, n });
    res.replicaSeconds += pods.length * dt;
    steps.push({ t, qps: lambda, replicas: pods.length, ready, p99Ms: p99 });
    // each pod's sample: ready pods share what is served; starting pods report nothing
    const served = Math.min(lambda, capacity);
    const metrics: PodMetric[] = pods.map((r) => {
      if (r > t) return { ready: false };
      const v = (served / Math.max(1, ready)) * (1 + noise * (2 * rand() - 1));
      return { ready: true, value: v };
    });
    const want = Math.max(0, Math.round(decide(t, pods.length, metrics)));
    if (want !== pods.length) res.scaleEvents++;
    if (want > pods.length) pods = [...pods, ...Array.from({ length: want - pods.length }, () => t + startup)];
    else if (want < pods.length) pods = [...pods].sort((a, b) => a - b).slice(0, want); // keeps the oldest (ready) pods
  }
  weighted.sort((a, b) => a.p99 - b.p99);
  let acc = 0;
  let p99OfSteps = 0;
  for (const w of weighted) {
    acc += w.n;
    p99OfSteps = w.p99;
    if (acc >= 0.99 * res.requests) break;
  }
  const reps = steps.map((s) => s.replicas);
  return { steps, ...res, worstP99Ms: Math.max(...steps.map((s) => s.p99Ms)), p99OfStepsMs: p99OfSteps, minReplicas: Math.min(...reps), maxReplicas: Math.max(...reps) };
}

/** A scaler that never changes the count (fixed replicas). */
export const fixedReplicas =
  (n: number): ScaleDecide =>
  () =>
    n;

/**
 * The HPA controller as a `ScaleDecide` over pods that report their QPS: a Pods metric takes it as it is, CPU
 * utilization is derived from it (QPS ÷ `capacityQps` × 100: a replica at capacity uses its one-core request).
 */
export function hpaDecide(spec: HpaSpec, capacityQps: number): ScaleDecide {
  const hpa = new HpaController(spec);
  return (now, current, pods) =>
    hpa.reconcile(
      now,
      current,
      spec.metrics.map((m) => (m.type === 'Pods' ? pods : pods.map((p) => (p.value === undefined ? p : { ready: p.ready, value: (100 * p.value) / capacityQps })))),
    ).desired;
}
