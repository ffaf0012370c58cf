/**
 * EXERCISE 12-kubernetes: give each service the probes its measured start-up calls for.
 *
 * As shipped it is before.ts's idea: "restart it when it is not ready", one liveness probe on /readyz a second
 * after start. In a cluster that restarts every gateway when a shard blips, kills slow starts in a loop, and sends
 * traffic to pods that cannot answer yet.
 *
 * `probeTimings(m)` gets a service's start-up as measured here (`m.startupMs`: spawn → first GET /readyz 200, ms,
 * one per start; `m.allowanceS`: seconds a start may take in the cluster that the samples do not hold, such as a
 * shard replaying its write log) and returns its `startup`, `readiness` and `liveness` probes: path, periodSeconds,
 * timeoutSeconds, failureThreshold (initialDelaySeconds if you must). The services serve GET /healthz (the process
 * is up) and GET /readyz (it can answer: its index is loaded, its shards answered).
 *
 * What must hold (checked by `npm run checkpoint -- 12-kubernetes`, with a model of the kubelet's prober, counted,
 * never timed; the rules and their reasons are in shared/deploy/probe-timings.ts `PROBE_RULES`):
 *   - of 1000 starts drawn from the samples, each up to 3× slower (a CPU limit, a cold cache) plus up to the
 *     allowance, none is killed while starting; also for a service that starts in up to 20 s;
 *   - a 30 s outage of a dependency (readiness fails, the process is fine) restarts no pod;
 *   - a 5 s event-loop stall (no GET answered) restarts no pod, and a hung process is restarted within 60 s;
 *   - a pod that stops being ready is out of rotation within 10 s.
 *
 * Then count what the manifest checker finds with your probes in the real manifests, beside before and after:
 *   npm run t4 -- --only 12-kubernetes --impl exercise --quick
 * Stuck? npm run hint -- 12-kubernetes
 */
import path from 'node:path';
import { K8S_DIR, measuredStartup, render, type K8sObject } from '../../shared/deploy/k8s-validate.ts';
import type { ProbeSet, StartupMeasure } from '../../shared/deploy/probe-timings.ts';
import { withProbes } from './manifests.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../../shared/deploy/probe-timings.ts';

export function probeTimings(_m: StartupMeasure): ProbeSet {
  // TODO: a startup, a readiness and a liveness probe, each doing its own job, timed from the measurement
  return { liveness: { path: '/readyz', periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 1, initialDelaySeconds: 1 } };
}

/** The dev overlay with your probes (what the bench counts). */
export async function manifests(): Promise<K8sObject[]> {
  return withProbes(await render(path.join(K8S_DIR, 'overlays', 'dev')), probeTimings, measuredStartup());
}
