/**
 * Checkpoint for 13-autoscaling: the desired-replicas decision. `npm run checkpoint -- 13-autoscaling` runs it
 * against exercise.ts; plain `npx vitest run` checks before.ts (the naive rule: the tests of the ratio, the bounds
 * and the starting pods apply) and after.ts (Kubernetes' rule, shared/services/autoscale.ts).
 *
 * The scaler runs in sim.ts's world: a virtual clock syncing every 15 s, pods ready 45 s after they are created, a
 * total load spread evenly over the ready pods (each reports its share). Target 100 QPS per pod, 1-10 replicas,
 * tolerance 0.1, scale-down window 300 s. Pods are counted at virtual instants; nothing is timed. The real processes
 * under a real ramp are the bench's (and shared/services/local-autoscaler.test.ts's).
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { ScalerOptions } from './after.ts';
import { changes, drive, SYNC_MS } from './sim.ts';

type Mod = typeof import('./after.ts');

const OPTS: ScalerOptions = { target: 100, minReplicas: 1, maxReplicas: 10, tolerance: 0.1, scaleDownStabilizationMs: 300_000 };
const ready = (values: number[]) => values.map((value) => ({ ready: true, value }));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const naive = name === 'before';

  it('scales to ceil(ready pods × average ÷ target), rounding up', () => {
    const a = impl.createScaler(OPTS).decide(0, 3, ready([200, 200, 200]));
    expect(a, `3 pods at 200 QPS (target 100) need 6 pods, got ${a}`).toBe(6);
    const b = impl.createScaler(OPTS).decide(0, 4, ready([130, 130, 130, 130]));
    expect(b, `4 pods at 130 QPS carry 5.2 pods' worth at the target: 6 pods, got ${b}${b === 5 ? ' (rounded down: 5 pods run at 104%, over the target)' : ''}`).toBe(6);
    const c = impl.createScaler(OPTS).decide(0, 4, ready([112, 112, 112, 112]));
    expect(c, `4 pods at 112 QPS (12% over, outside the tolerance) need ceil(4.48) = 5 pods, got ${c}${c === 4 ? ' (rounded down)' : ''}`).toBe(5);
  });

  it('scales up at the next sync when the load jumps (the scale-up window is 0)', () => {
    const ticks = drive(impl.createScaler(OPTS), { initial: 2, load: (t) => (t < 60_000 ? 200 : 500), untilMs: 120_000 });
    const at = ticks.find((k) => k.t === 60_000)!;
    expect(at.desired, `load 200 → 500 QPS at 60 s over 2 pods: asked for ${at.desired} at the next sync, 5 expected (${changes(ticks).join(', ')})`).toBe(5);
  });

  it.skipIf(naive)('holds the count while the metric stays within the 10% tolerance of the target', () => {
    const rand = mulberry32(3);
    // 4 pods, the load wobbling within ±8% of 400 QPS for 10 minutes
    const wobble = Array.from({ length: 41 }, () => 400 * (1 + 0.08 * (2 * rand() - 1)));
    const ticks = drive(impl.createScaler(OPTS), { initial: 4, load: (t) => wobble[t / SYNC_MS], untilMs: 600_000 });
    const ch = changes(ticks);
    expect(
      ch.length,
      `changed replicas ${ch.length} time${ch.length === 1 ? '' : 's'} (${ch.slice(0, 4).join(', ')}${ch.length > 4 ? ', …' : ''}) while the metric stayed within the 10% tolerance of the target (92-108 QPS per pod): every wobble starts or stops a pod`,
    ).toBe(0);
  });

  it.skipIf(naive)('a dip does not scale down: only a drop that lasts the scale-down stabilization window does', () => {
    // 6 pods at the target; the load halves for 2 minutes (from 5 min), comes back; then halves for good at 10 min
    const load = (t: number) => (t >= 300_000 && t < 420_000) || t >= 600_000 ? 300 : 600;
    const ticks = drive(impl.createScaler(OPTS), { initial: 6, load, untilMs: 1_200_000 });
    const firstDown = ticks.find((k) => k.desired < k.current);
    const duringDip = ticks.filter((k) => k.t < 600_000 && k.desired < k.current);
    const into = ((duringDip[0]?.t ?? 0) - 300_000) / 1000;
    expect(
      duringDip.length,
      `scaled ${duringDip[0]?.current} → ${duringDip[0]?.desired} ${into === 0 ? 'at the first sync of' : `${into} s into`} a 120 s dip: a scale-down must wait out the scale-down stabilization window (300 s of lower recommendations), or every dip removes pods that are needed again a minute later`,
    ).toBe(0);
    expect(firstDown, 'never scaled down after 10 minutes at half the load: the window should end 300 s after the drop').toBeDefined();
    const after = firstDown!.t - 600_000;
    expect(after, `scaled down ${after / 1000} s after the load halved for good: the scale-down stabilization window is 300 s`).toBeGreaterThanOrEqual(300_000 - SYNC_MS);
    expect(after, `scaled down only ${after / 1000} s after the load halved for good: 300 s (+ one sync) expected`).toBeLessThanOrEqual(300_000 + 2 * SYNC_MS);
    expect(ticks[ticks.length - 1].desired, `at half the load (300 QPS, target 100) 3 pods are enough, got ${ticks[ticks.length - 1].desired}`).toBe(3);
  });

  it('stays within minReplicas and maxReplicas', () => {
    const hi = impl.createScaler(OPTS).decide(0, 8, ready(Array(8).fill(180)));
    expect(hi, `8 pods at 180 QPS ask for 15 pods; maxReplicas is 10: got ${hi}`).toBe(10);
    const ticks = drive(impl.createScaler({ ...OPTS, minReplicas: 2 }), { initial: 4, load: () => 0, untilMs: 600_000 });
    const lows = ticks.map((k) => k.desired);
    expect(Math.min(...lows), `no load at all: scaled to ${Math.min(...lows)} pods; minReplicas is 2`).toBe(2);
  });

  it('pods still starting are not counted as carrying load', () => {
    // 2 pods; the load doubles to 400 QPS: 4 pods carry it. The 2 new pods take 45 s (three syncs) to be ready.
    const ticks = drive(impl.createScaler(OPTS), { initial: 2, load: (t) => (t < 30_000 ? 200 : 400), untilMs: 180_000 });
    const peak = Math.max(...ticks.map((k) => k.desired));
    const at = ticks.find((k) => k.desired === peak)!;
    expect(
      peak,
      `asked for ${peak} replicas at ${at.t / 1000} s while ${at.current - at.ready} of ${at.current} pods were still starting; 4 pods carry 400 QPS at the 100 target (${changes(ticks).join(', ')}): the pods asked for last sync were counted as if they were not coming`,
    ).toBe(4);
  });
});
