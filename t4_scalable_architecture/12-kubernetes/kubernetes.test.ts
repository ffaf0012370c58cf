/**
 * Checkpoint for 12-kubernetes. `npm run checkpoint -- 12-kubernetes` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (only "returns probes the kubelet can run" applies) and after.ts.
 *
 * Each implementation's `probeTimings` is given the start-up measured here for every service
 * (deploy/k8s/startup-measured.json) and a slow synthetic one, and its probe sets go through a model of the kubelet's
 * prober (shared/deploy/probe-timings.ts `simulateProbes`, seeded): starts killed while loading, pods restarted by a
 * dependency outage or an event-loop stall, seconds a not-ready pod keeps traffic. All counted, nothing timed.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { measuredStartup } from '../../shared/deploy/k8s-validate.ts';
import { PROBE_RULES, probeViolations, simulateProbes, type ProbeSet, type StartupMeasure } from '../../shared/deploy/probe-timings.ts';

type Mod = typeof import('./after.ts');

const MEASURED = measuredStartup();
/** A service that loads a bigger index: 8-20 s here, no allowance. */
const SLOW: StartupMeasure = { startupMs: [8_000, 9_500, 11_000, 12_000, 13_500, 15_000, 16_000, 17_500, 19_000, 20_000] };

const services = (): Array<[string, StartupMeasure]> => Object.entries(MEASURED);

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('returns probes the kubelet can run', () => {
    for (const [svc, m] of services()) {
      const set: ProbeSet = impl.probeTimings(m);
      for (const p of Object.values(set)) {
        if (!p) continue;
        expect(p.path, `${svc}: a probe path`).toMatch(/^\//);
        for (const k of ['periodSeconds', 'timeoutSeconds', 'failureThreshold'] as const) {
          expect(Number.isInteger(p[k]) && p[k] >= 1, `${svc}: ${k} ${p[k]} must be a whole number ≥ 1`).toBe(true);
        }
      }
    }
  });

  describe.skipIf(name === 'before')('the probes', () => {
    it('keep the rules for every measured service', () => {
      const found = services().flatMap(([svc, m]) => probeViolations(impl.probeTimings(m), m).map((v) => `${svc}: ${v}`));
      expect(found, found.join('\n')).toEqual([]);
    });

    it('let every start finish: no pod killed while it is starting', () => {
      for (const [svc, m] of services()) {
        const s = simulateProbes(impl.probeTimings(m), m);
        expect(s.killedStarting, `${svc}: restarted ${s.killedStarting} of ${s.starts} pods still starting (starts up to 3× the measured ones, plus up to ${m.allowanceS ?? 0} s)`).toBe(0);
      }
    });

    it('derive the start-up budget from the measurement', () => {
      const s = simulateProbes(impl.probeTimings(SLOW), SLOW);
      expect(s.killedStarting, `a service that starts in up to 20 s: restarted ${s.killedStarting} of ${s.starts} pods still starting`).toBe(0);
      expect(probeViolations(impl.probeTimings(SLOW), SLOW), 'a service that starts in up to 20 s').toEqual([]);
    });

    it('restart no pod when a dependency is down', () => {
      for (const [svc, m] of services()) {
        const s = simulateProbes(impl.probeTimings(m), m);
        expect(s.restartedByDependencyBlip, `${svc}: a 30 s outage of a dependency restarted ${s.restartedByDependencyBlip} of ${s.pods} pods`).toBe(0);
      }
    });

    it('survive an event-loop stall and still restart a hung process', () => {
      for (const [svc, m] of services()) {
        const set = impl.probeTimings(m);
        const s = simulateProbes(set, m);
        expect(s.restartedByStall, `${svc}: a 5 s event-loop stall restarted the pod in ${s.restartedByStall} of 100 runs`).toBe(0);
        const l = set.liveness;
        expect(l, `${svc}: no liveness probe: a hung process is never restarted`).toBeDefined();
        const hang = l!.periodSeconds * l!.failureThreshold + l!.timeoutSeconds + (set.startup ? 0 : (l!.initialDelaySeconds ?? 0));
        expect(hang, `${svc}: a hung process restarted only after ${hang} s (bound ${PROBE_RULES.maxHangDetectS} s)`).toBeLessThanOrEqual(PROBE_RULES.maxHangDetectS);
      }
    });

    it('take a pod that stops being ready out of rotation quickly', () => {
      for (const [svc, m] of services()) {
        const s = simulateProbes(impl.probeTimings(m), m);
        expect(s.trafficAfterNotReadyS, `${svc}: a pod that stopped being ready kept traffic for ${s.trafficAfterNotReadyS.toFixed(1)} s (bound ${PROBE_RULES.maxOutOfRotationS} s)`).toBeLessThanOrEqual(PROBE_RULES.maxOutOfRotationS);
      }
    });

    it('use a startup probe, not an initial delay', () => {
      for (const [svc, m] of services()) {
        const set = impl.probeTimings(m);
        expect(set.startup, `${svc}: no startup probe: liveness alone decides when a slow start is killed`).toBeDefined();
      }
    });
  });
});
