/**
 * The HPA rule and simulator (autoscale.ts) against Kubernetes' documented behaviour: the ratio and its tolerance,
 * missing and not-ready pods, the stabilization windows, the rate policies and selectPolicy, min/max, the
 * autoscaling/v2 manifest; and the queueing model's M/M/1 special case.
 */
import { describe, expect, it } from 'vitest';
import {
  dailyCurve,
  DEFAULT_SCALE_DOWN,
  DEFAULT_SCALE_UP,
  defaultHpaSpec,
  fixedReplicas,
  HpaController,
  hpaDecide,
  mmcP99Ms,
  parseHpaYaml,
  parseQuantity,
  replicasForMetric,
  simulate,
  type HpaSpec,
  type PodMetric,
} from './autoscale.ts';

const ready = (...vs: number[]): PodMetric[] => vs.map((value) => ({ ready: true, value }));
const spec = (o: Partial<HpaSpec> = {}): HpaSpec => ({
  name: 't',
  minReplicas: 1,
  maxReplicas: 100,
  metrics: [{ type: 'Pods', name: 'qps', averageValue: 100 }],
  behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: DEFAULT_SCALE_DOWN },
  tolerance: 0.1,
  syncPeriodSeconds: 15,
  ...o,
});
const at = (n: number, v: number) => ready(...Array(n).fill(v));

describe('replicasForMetric (replica_calculator.go)', () => {
  it('doubles at twice the target and halves at half of it (the docs example: 200m against 100m)', () => {
    expect(replicasForMetric(3, at(3, 200), 100)).toBe(6);
    expect(replicasForMetric(4, at(4, 50), 100)).toBe(2);
  });
  it('rounds up and keeps the count within the 0.1 tolerance', () => {
    expect(replicasForMetric(4, at(4, 130), 100)).toBe(6);
    expect(replicasForMetric(4, at(4, 109), 100)).toBe(4);
    expect(replicasForMetric(4, at(4, 91), 100)).toBe(4);
    expect(replicasForMetric(4, at(4, 111), 100)).toBe(5);
  });
  it('a pod without a sample counts at the target on a scale-down and as idle on a scale-up', () => {
    // scale-down: [50, 50, (100)] → ratio 2/3 → 2 (not ceil(0.5 × 2) = 1)
    expect(replicasForMetric(3, [...at(2, 50), { ready: true }], 100)).toBe(2);
    // scale-up: [300, 300, (0)] → ratio 2 → 6
    expect(replicasForMetric(3, [...at(2, 300), { ready: true }], 100)).toBe(6);
  });
  it('pods not ready are left out, and on a scale-up count as idle: an overload already answered is not answered again', () => {
    expect(replicasForMetric(4, [...at(2, 200), { ready: false }, { ready: false }], 100)).toBe(4);
    expect(replicasForMetric(4, [...at(2, 300), { ready: false }, { ready: false }], 100)).toBe(6);
    // scale-down: the starting pods are not counted at all
    expect(replicasForMetric(4, [...at(2, 50), { ready: false }, { ready: false }], 100)).toBe(1);
  });
  it('keeps the count when no ready pod has a sample yet', () => {
    expect(replicasForMetric(3, [{ ready: false }, { ready: true }], 100)).toBe(3);
  });
});

describe('HpaController (horizontal.go)', () => {
  it('the default scale-up policy: the larger of +100% and +4 pods per 15 s', () => {
    const hpa = new HpaController(spec());
    expect(hpa.reconcile(0, 1, [at(1, 2000)]).desired, '1 → max(2, 5)').toBe(5);
    expect(hpa.reconcile(5_000, 5, [at(5, 400)]).desired, 'within the same 15 s: no further').toBe(5);
    expect(hpa.reconcile(15_000, 5, [at(5, 400)]).desired, 'next period: 5 → max(10, 9)').toBe(10);
    expect(hpa.reconcile(30_000, 10, [at(10, 200)]).desired, 'then 10 → 20').toBe(20);
  });
  it('the default scale-down stabilization: the highest recommendation of the last 300 s', () => {
    const hpa = new HpaController(spec());
    expect(hpa.reconcile(0, 10, [at(10, 100)]).desired).toBe(10);
    let t = 15_000;
    for (; t < 300_000; t += 15_000) expect(hpa.reconcile(t, 10, [at(10, 30)]).desired, `at ${t / 1000} s`).toBe(10);
    expect(hpa.reconcile(300_000, 10, [at(10, 30)]).desired, 'the 10 recommended at 0 s is 300 s old').toBe(3);
  });
  it('scale-up stabilization: the lowest recommendation of its window', () => {
    const hpa = new HpaController(spec({ behavior: { scaleUp: { ...DEFAULT_SCALE_UP, stabilizationWindowSeconds: 60 }, scaleDown: DEFAULT_SCALE_DOWN } }));
    expect(hpa.reconcile(0, 4, [at(4, 100)]).desired).toBe(4);
    expect(hpa.reconcile(15_000, 4, [at(4, 200)]).desired, 'a spike of one sync is not acted on').toBe(4);
    expect(hpa.reconcile(30_000, 4, [at(4, 200)]).desired).toBe(4);
    expect(hpa.reconcile(75_000, 4, [at(4, 200)]).desired, 'after 60 s of it: scale up').toBe(8);
  });
  it('the docs example: Pods 4 and Percent 10 per 60 s, selectPolicy Max: 80 → 72 → 64, and 4 pods at a time below 40', () => {
    const scaleDown = { stabilizationWindowSeconds: 0, selectPolicy: 'Max' as const, policies: [{ type: 'Pods' as const, value: 4, periodSeconds: 60 }, { type: 'Percent' as const, value: 10, periodSeconds: 60 }] };
    const hpa = new HpaController(spec({ behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown } }));
    expect(hpa.reconcile(0, 80, [at(80, 10)]).desired).toBe(72);
    expect(hpa.reconcile(15_000, 72, [at(72, 10)]).desired, 'within the period').toBe(72);
    expect(hpa.reconcile(60_000, 72, [at(72, 10)]).desired).toBe(64);
    const h2 = new HpaController(spec({ behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown } }));
    expect(h2.reconcile(0, 30, [at(30, 10)]).desired, '10% of 30 is 3: the Pods policy removes more').toBe(26);
    const h3 = new HpaController(spec({ behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: { ...scaleDown, selectPolicy: 'Min' } } }));
    expect(h3.reconcile(0, 30, [at(30, 10)]).desired, 'selectPolicy Min: the smaller change').toBe(27);
    const h4 = new HpaController(spec({ behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: { ...scaleDown, selectPolicy: 'Disabled' } } }));
    expect(h4.reconcile(0, 30, [at(30, 10)]).desired, 'Disabled: never scales down').toBe(30);
  });
  it('min and max bound the result; a count outside them is brought inside at once', () => {
    const hpa = new HpaController(spec({ minReplicas: 2, maxReplicas: 6 }));
    expect(hpa.reconcile(0, 4, [at(4, 500)]).desired).toBe(6);
    expect(new HpaController(spec({ minReplicas: 2, maxReplicas: 6 })).reconcile(0, 9, [at(9, 100)]).desired).toBe(6);
    expect(new HpaController(spec({ minReplicas: 2, maxReplicas: 6 })).reconcile(0, 1, [at(1, 100)]).desired).toBe(2);
  });
  it('several metrics: the largest count wins', () => {
    const hpa = new HpaController(spec({ metrics: [{ type: 'Resource', name: 'cpu', averageUtilization: 70 }, { type: 'Pods', name: 'qps', averageValue: 100 }] }));
    expect(hpa.reconcile(0, 2, [at(2, 140), at(2, 100)]).desired, 'CPU 140% of a 70% target: 4').toBe(4);
  });
});

describe('the manifest', () => {
  it('reads an autoscaling/v2 HPA with CPU, a Pods metric and behavior', () => {
    const s = parseHpaYaml(`apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: rag-gateway}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: rag-gateway}
  minReplicas: 2
  maxReplicas: 12
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
    - type: Pods
      pods: {metric: {name: rag_gateway_requests_per_second}, target: {type: AverageValue, averageValue: "300"}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
      policies: [{type: Pods, value: 1, periodSeconds: 60}]
`);
    expect(s).toMatchObject({ name: 'rag-gateway', minReplicas: 2, maxReplicas: 12, tolerance: 0.1 });
    expect(s.metrics).toEqual([
      { type: 'Resource', name: 'cpu', averageUtilization: 70 },
      { type: 'Pods', name: 'rag_gateway_requests_per_second', averageValue: 300 },
    ]);
    expect(s.behavior.scaleDown).toEqual({ stabilizationWindowSeconds: 120, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] });
    expect(s.behavior.scaleUp, 'defaults where behavior leaves a direction out').toEqual(DEFAULT_SCALE_UP);
  });
  it('refuses what it cannot simulate, and reads quantities', () => {
    expect(() => parseHpaYaml('kind: Deployment\n')).toThrow(/no HorizontalPodAutoscaler/);
    expect(() => parseHpaYaml('apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec: {maxReplicas: 3, metrics: [{type: External}]}\n')).toThrow(/only Resource cpu/);
    expect([parseQuantity('300'), parseQuantity('250m'), parseQuantity('1.5k')]).toEqual([300, 0.25, 1500]);
    expect(() => parseQuantity('lots')).toThrow(/not a quantity/);
  });
});

describe('the simulation', () => {
  it('M/M/1: the p99 of the response time is ln(100) ÷ (μ − λ)', () => {
    expect(mmcP99Ms(300, 400, 1)).toBeCloseTo((1000 * Math.log(100)) / 100, 3);
    expect(mmcP99Ms(400, 400, 1)).toBe(Infinity);
    expect(mmcP99Ms(700, 400, 2)).toBeLessThan(mmcP99Ms(350, 400, 1));
  });
  it('on a day with a spike: fixed for the mean fails requests, the naive rule flaps, the HPA costs less than fixed for the peak', () => {
    const cap = 400;
    const s = defaultHpaSpec(cap); // target 280 QPS per replica, 1-10
    const curve = dailyCurve({ peakQps: 1700 });
    const target = 280;
    const peak = Math.ceil(Math.max(...curve.qps) / target);
    const mean = Math.ceil(curve.qps.reduce((a, b) => a + b) / curve.qps.length / target);
    const naive = (_t: number, _c: number, pods: readonly PodMetric[]) =>
      Math.min(10, Math.max(1, Math.ceil(pods.reduce((a, p) => a + (p.ready ? (p.value ?? 0) : 0), 0) / target)));
    const init = Math.ceil(curve.qps[0] / target);
    const fixedPeak = simulate(curve, fixedReplicas(peak), { capacityQps: cap, initialReplicas: peak });
    const fixedMean = simulate(curve, fixedReplicas(mean), { capacityQps: cap, initialReplicas: mean });
    const naiveRun = simulate(curve, naive, { capacityQps: cap, initialReplicas: init });
    const hpa = simulate(curve, hpaDecide(s, cap), { capacityQps: cap, initialReplicas: init });
    expect(fixedPeak.requestsFailed).toBe(0);
    expect(fixedMean.requestsFailed).toBeGreaterThan(0);
    expect(naiveRun.scaleEvents).toBeGreaterThan(5 * hpa.scaleEvents);
    expect(hpa.replicaSeconds).toBeLessThan(0.8 * fixedPeak.replicaSeconds);
    expect(hpa.maxReplicas).toBeLessThanOrEqual(10);
  });
});
