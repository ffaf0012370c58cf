/**
 * After: the hardened manifests of deploy/k8s (the dev overlay, rendered by `kubectl kustomize`), with each
 * service's probes derived from its measured start-up by `probeTimings` below: the decision this lesson's exercise
 * asks for.
 *
 * The three probes do three jobs (shared/deploy/probe-timings.ts has the rules and a model of the kubelet):
 *
 * - **startup** (`/healthz`, every 1 s): the only probe while the container starts. Its budget, period ×
 *   (failureThreshold − 1), covers 3 × the p99 of the measured start-up (in the pod: one core under a CPU limit, a
 *   cold page cache, a busy node) plus what the samples do not hold (a shard replaying its write log). Derived from
 *   the measurement, so a service that starts in 20 s gets 60 s and one that starts in 1 s is found dead in seconds.
 * - **readiness** (`/readyz`, every 3 s, 2 failures): traffic or no traffic. It may fail because a dependency is
 *   down (the gateway with no shard answered): that takes the pod out of rotation, within 3 × 2 + 1 = 7 s, and
 *   restarts nothing.
 * - **liveness** (`/healthz`, every 10 s, 3 failures, 2 s timeout): restarts a process that no longer answers at
 *   all. Never a dependency check: when Redis blips every pod would fail it at once and be restarted, which brings
 *   nothing back. It survives a stall of 2 × 10 + 2 = 22 s (a long GC, a CPU-throttled event loop) and restarts a
 *   hung process within 32 s.
 */
import path from 'node:path';
import { K8S_DIR, measuredStartup, render, type K8sObject } from '../../shared/deploy/k8s-validate.ts';
import type { ProbeSet, StartupMeasure } from '../../shared/deploy/probe-timings.ts';
import { withProbes } from './manifests.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../../shared/deploy/probe-timings.ts';

/** The probes of a service whose start-up (spawn → /readyz 200) was measured as `m`. */
export function probeTimings(m: StartupMeasure): ProbeSet {
  const samples = [...m.startupMs].sort((a, b) => a - b);
  const p99 = samples[Math.min(samples.length - 1, Math.ceil(0.99 * samples.length) - 1)];
  const budgetS = (3 * p99) / 1000 + (m.allowanceS ?? 0);
  return {
    // killed at the failureThreshold-th failure, and the first GET may come at once: (f − 1) × period ≥ budget
    startup: { path: '/healthz', periodSeconds: 1, timeoutSeconds: 1, failureThreshold: Math.max(3, Math.ceil(budgetS) + 1) },
    readiness: { path: '/readyz', periodSeconds: 3, timeoutSeconds: 1, failureThreshold: 2 },
    liveness: { path: '/healthz', periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
  };
}

/** The dev overlay as Kubernetes would get it, its probes from `probeTimings` (equal to the committed YAML's). */
export async function manifests(): Promise<K8sObject[]> {
  return withProbes(await render(path.join(K8S_DIR, 'overlays', 'dev')), probeTimings, measuredStartup());
}
