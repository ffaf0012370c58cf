/**
 * Benchmark for 13-autoscaling, in two parts.
 *
 * 1. **Real replicas under a real ramp**: shard-service.ts processes (the whole Brown index, shard 0
 *    of 1) behind an elastic pool (shared/services/local-autoscaler.ts), an open-loop load that ramps from 15% of
 *    the peak to the peak, holds, and falls back. Four runs, each with fresh processes: **fixed 1 replica**, **fixed
 *    at the maximum** (full run only), **before** (the naive rule of before.ts starting and stopping processes) and **after** (the
 *    HPA rule of after.ts), plus the learner's exercise.ts with `--impl exercise`. The clock is compressed: a sync
 *    every `syncMs` (the HPA's 15 s), a scale-down window of `downWindowMs` (its 300 s). Measured: the p99 of every
 *    request of the ramp (from its due time); beside it the replica-seconds (fork to exit of every process, starting
 *    and draining included), the replica starts, and failed requests. On 2 cores one replica already serves the
 *    whole ramp (lesson 05), so these rows show the mechanism working (0 failed, replicas follow the load), not a
 *    p99 that more replicas could lower.
 * 2. **A simulated day** (the headline: its scale events, the flapping a rule without tolerance and stabilization
 *    does; shared/services/autoscale.ts): a generated 24 h curve with a spike, the per-replica
 *    capacity lesson 05 measured, the HPA's parameters from deploy/k8s/base/hpa-gateway.yaml (defaults when absent),
 *    an M/M/c queue per 15 s step: replica-hours, requests in steps over the 200 ms p99 target, failed requests,
 *    scale events, for fixed-for-the-peak, fixed-for-the-mean, before, after (and the manifest's HPA with both metrics).
 *
 * Run: npm run t4 -- --only 13-autoscaling [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Curve, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { dailyCurve, fixedReplicas, hpaDecide, loadHpaSpec, measuredCapacity, simulate, type HpaSpec, type LoadCurve, type PodMetric, type SimResult } from '../../shared/services/autoscale.ts';
import { ensureSplitIndex } from '../../shared/services/cli-up.ts';
import { LocalAutoscaler, runRamp, shardReplicaStarter, shardSearchRequests, type Decider, type StartReplica } from '../../shared/services/local-autoscaler.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;

interface Size {
  /** Highest offered load of the ramp, QPS. */
  peakQps: number;
  /** Length of each run's ramp, ms. */
  rampMs: number;
  /** Time between decisions, ms (compressed 15 s). */
  syncMs: number;
  /** Scale-down stabilization, ms (compressed 300 s). */
  downWindowMs: number;
  maxReplicas: number;
  /** Hours of the simulated day. */
  hours: number;
  /** Also run `maxReplicas` fixed replicas (the p99 floor and the cost ceiling). */
  fixedMax: boolean;
}

interface Input {
  size: Size;
  index: string;
  requests: unknown[];
  start: StartReplica;
  capacity: { qps: number; source: string };
  hpa: { spec: HpaSpec; source: string };
  scalers: Record<string, Mod>;
  /** A fixed sample for the tinybench table (one decision). */
  sample: PodMetric[];
}

const HEADLINE = 'scale events over a simulated day';
const RAMP_P99 = 'p99 during the ramp';

/** The ramp's shape: 15% of the peak, a rise to the peak over 25% of the run, a hold, then back to 15%. */
function rampAt(size: Size): (t: number) => number {
  const low = 0.15 * size.peakQps;
  return (t) => {
    const x = t / size.rampMs;
    if (x < 0.15) return low;
    if (x < 0.4) return low + ((x - 0.15) / 0.25) * (size.peakQps - low);
    if (x < 0.7) return size.peakQps;
    return low;
  };
}

/** The per-replica target: the peak needs `maxReplicas` replicas (ceil(peak ÷ target) = max). */
const rampTarget = (s: Size) => s.peakQps / (s.maxReplicas - 0.5);

export default defineLesson<Size, Input>({
  id: 't4/13-autoscaling',
  title: 'Autoscaling: fixed replicas and a naive rule vs. the HPA rule with tolerance and stabilization',
  workload:
    'real shard replicas (Brown, exact vectors) under an open-loop ramp 15% → peak → 15%, scaled on QPS per replica with a compressed HPA clock; and a simulated day (24 h, spike at 14:00) on the capacity lesson 05 measured',
  sizes: {
    quick: { peakQps: 160, rampMs: 4_000, syncMs: 400, downWindowMs: 1_500, maxReplicas: 3, hours: 24, fixedMax: false },
    full: { peakQps: 300, rampMs: 20_000, syncMs: 1_000, downWindowMs: 5_000, maxReplicas: 3, hours: 24, fixedMax: true },
  },
  setup: async (size, ctx) => {
    const index = await ensureSplitIndex(undefined, (m) => ctx.log(`index: ${m}`));
    const capacity = measuredCapacity();
    const hpa = loadHpaSpec(capacity.qps);
    ctx.log(`per-replica capacity: ${capacity.qps.toFixed(0)} QPS (${capacity.source}); HPA: ${hpa.source}`);
    const scalers: Record<string, Mod> = { before, after };
    if (ctx.exercise) scalers[EXERCISE] = ctx.exercise as Mod;
    const sample: PodMetric[] = [100, 120, 90, 130].map((value) => ({ ready: true, value }));
    return { size, index, requests: shardSearchRequests(index, 256), start: shardReplicaStarter({ index }).start, capacity, hpa, scalers, sample };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'events', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => before.createScaler({ target: 100, minReplicas: 1, maxReplicas: 10 }).decide(0, 4, input.sample),
    after: (input) => after.createScaler({ target: 100, minReplicas: 1, maxReplicas: 10 }).decide(0, 4, input.sample),
  },
  exercise: (input) => input.scalers[EXERCISE]?.createScaler({ target: 100, minReplicas: 1, maxReplicas: 10 }).decide(0, 4, input.sample),
  options: { iterations: 50, time: 50, warmupTime: 20, rounds: 1 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const curves: Curve[] = [];
    const target = rampTarget(size);
    const opts = { target, minReplicas: 1, maxReplicas: size.maxReplicas, tolerance: 0.1, scaleDownStabilizationMs: size.downWindowMs };
    const qpsAt = rampAt(size);
    const load = `open loop 15% → ${size.peakQps} QPS → 15% over ${size.rampMs / 1000} s; target ${target.toFixed(0)} QPS per replica, 1-${size.maxReplicas} replicas, sync ${size.syncMs} ms, scale-down window ${size.downWindowMs} ms`;

    // ---- 1. real replicas
    const runs: Array<{ name: string; decider: () => Decider; initial: number }> = [
      { name: 'fixed 1 replica', decider: () => ({ decide: fixedReplicas(1) }), initial: 1 },
      ...(size.fixedMax ? [{ name: `fixed ${size.maxReplicas} replicas`, decider: () => ({ decide: fixedReplicas(size.maxReplicas) }), initial: size.maxReplicas }] : []),
      ...Object.entries(input.scalers).map(([name, mod]) => ({ name, decider: () => mod.createScaler(opts), initial: 1 })),
    ];
    for (const run of runs) {
      ctx.log(`${run.name}: starting ${run.initial} replica(s)…`);
      const auto = new LocalAutoscaler({ start: input.start, scaler: run.decider(), syncMs: size.syncMs, initial: run.initial, log: (l) => ctx.log(`  ${l}`) });
      try {
        await auto.init();
        auto.run();
        ctx.log(`${run.name}: ramp (${load})`);
        const r = await runRamp({
          send: (i) => auto.pool.call('search', input.requests[i % input.requests.length], { deadlineMs: 5_000 }),
          qpsAt,
          durationMs: size.rampMs,
        });
        const rs = auto.replicaSeconds();
        const hist = auto.history;
        const peak = Math.max(run.initial, ...hist.map((h) => h.serving));
        // every request counts, a failed one with its time to failure (its whole budget, for a timeout)
        const all = [...r.latencies, ...r.failedAfter];
        metrics.push(measured(RAMP_P99, 'ms', all, { variant: run.name, stat: 'p99', note: `${r.latencies.length} answered of ${r.sent} (a failed request counts its time to failure); ${load}` }));
        metrics.push(measured('p50 during the ramp', 'ms', r.latencies, { variant: run.name, stat: 'median' }));
        metrics.push({ name: 'replica-seconds used', value: rs, unit: 's', variant: run.name, note: 'every replica process from fork to exit during the ramp, starting and draining ones included' });
        metrics.push({ name: 'replica starts', value: auto.started - run.initial, unit: 'starts', variant: run.name, note: `beyond the ${run.initial} initial; most serving at once: ${peak}` });
        metrics.push({ name: 'failed requests during the ramp', value: r.failed, unit: 'requests', variant: run.name, ...(r.errors.length ? { note: r.errors.join('; ') } : {}) });
        if (hist.length > 0)
          curves.push({
            id: `replicas-${run.name.replace(/\W+/g, '-')}`,
            title: `replicas serving during the ramp: ${run.name}`,
            xLabel: 's',
            yLabel: 'replicas',
            points: hist.flatMap((h) => [
              { x: h.t / 1000, y: h.serving, series: 'serving' },
              { x: h.t / 1000, y: h.desired, series: 'desired' },
            ]),
          });
        ctx.log(`${run.name}: p99 ${percentile(all, 0.99).toFixed(1)} ms, ${rs.toFixed(1)} replica-s, ${auto.started - run.initial} starts, ${r.failed} failed`);
      } finally {
        await auto.stop();
      }
    }

    // ---- 2. the simulated day
    const spec = input.hpa.spec;
    const qpsMetric = spec.metrics.find((m) => m.type === 'Pods');
    const simTarget = qpsMetric && qpsMetric.type === 'Pods' ? qpsMetric.averageValue : Math.round(0.7 * input.capacity.qps);
    const curve: LoadCurve = dailyCurve({ peakQps: 0.6 * spec.maxReplicas * simTarget, hours: size.hours });
    const mean = curve.qps.reduce((a, b) => a + b, 0) / curve.qps.length;
    const peakQps = Math.max(...curve.qps);
    const startN = Math.min(spec.maxReplicas, Math.max(spec.minReplicas, Math.ceil(curve.qps[0] / simTarget)));
    const simOpts = { capacityQps: input.capacity.qps, startupSeconds: 20 };
    const down = spec.behavior.scaleDown.stabilizationWindowSeconds * 1000;
    const simScalers: Array<[string, (now: number, cur: number, pods: readonly PodMetric[]) => number, number]> = [
      [`fixed for the peak`, fixedReplicas(Math.ceil(peakQps / simTarget)), Math.ceil(peakQps / simTarget)],
      [`fixed for the mean`, fixedReplicas(Math.ceil(mean / simTarget)), Math.ceil(mean / simTarget)],
      ...Object.entries(input.scalers).map(([name, mod]): [string, (n: number, c: number, p: readonly PodMetric[]) => number, number] => {
        const s = mod.createScaler({ target: simTarget, minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas, tolerance: spec.tolerance, scaleDownStabilizationMs: down });
        return [name, (n, c, p) => s.decide(n, c, p), startN];
      }),
      [`HPA (${spec.metrics.map((m) => (m.type === 'Pods' ? 'QPS' : 'CPU')).join(' + ')}, policies)`, hpaDecide(spec, input.capacity.qps), startN],
    ];
    const simNote = `${curve.description}; ${input.capacity.qps.toFixed(0)} QPS per replica (${input.capacity.source}); HPA ${input.hpa.source}: target ${simTarget} QPS, ${spec.minReplicas}-${spec.maxReplicas} replicas; start-up 20 s; M/M/c per ${curve.stepSeconds} s step`;
    ctx.log(`simulated day: ${simNote}`);
    const dayPoints: Curve['points'] = [];
    const p99Points: Curve['points'] = [];
    for (let i = 0; i < curve.qps.length; i += 20) dayPoints.push({ x: (i * curve.stepSeconds) / 3600, y: curve.qps[i] / simTarget, series: 'load ÷ target' });
    for (const [name, decide, init] of simScalers) {
      const r: SimResult = simulate(curve, decide, { ...simOpts, initialReplicas: init });
      const v = `sim: ${name}`;
      metrics.push({ name: 'simulated day: replica-hours', value: r.replicaSeconds / 3600, unit: 'h', variant: v, note: simNote });
      metrics.push({ name: 'simulated day: requests in steps with p99 over 200 ms', value: (100 * r.requestsOverSlo) / r.requests, unit: '%', variant: v });
      metrics.push({ name: 'simulated day: requests failed (waited past the 1 s deadline)', value: (100 * r.requestsFailed) / r.requests, unit: '%', variant: v });
      metrics.push({ name: 'simulated day: scale events', value: r.scaleEvents, unit: 'events', variant: v, note: `replicas ${r.minReplicas}-${r.maxReplicas}` });
      // the headline: before, after (and the exercise) judged on the same day; deterministic, the same on any machine
      if (name in input.scalers)
        metrics.push({ name: HEADLINE, value: r.scaleEvents, unit: 'events', variant: name, note: `replicas ${r.minReplicas}-${r.maxReplicas}; ${r.replicaSeconds / 3600 >= 100 ? (r.replicaSeconds / 3600).toFixed(0) : (r.replicaSeconds / 3600).toFixed(1)} replica-hours; ${((100 * r.requestsOverSlo) / r.requests).toFixed(3)}% of requests in steps with p99 over 200 ms` });
      metrics.push({ name: 'simulated day: p99 of the step p99s', value: r.p99OfStepsMs, unit: 'ms', variant: v, note: `worst step ${r.worstP99Ms.toFixed(0)} ms` });
      for (let i = 0; i < r.steps.length; i += 20) {
        dayPoints.push({ x: r.steps[i].t / 3_600_000, y: r.steps[i].replicas, series: name });
        // the worst step of each 5 minutes, so a one-minute spike is not sampled away
        const win = r.steps.slice(i, i + 20);
        p99Points.push({ x: r.steps[i].t / 3_600_000, y: Math.max(...win.map((w) => w.p99Ms)), series: name });
      }
    }
    curves.push({ id: 'simulated-day', title: 'a simulated day: replicas over time', xLabel: 'hour', yLabel: 'replicas', points: dayPoints });
    curves.push({ id: 'simulated-day-p99', title: 'a simulated day: p99 per step (M/M/c model), worst of each 5 min', xLabel: 'hour', yLabel: 'ms', points: p99Points });
    return { metrics, curves };
  },
});

function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
