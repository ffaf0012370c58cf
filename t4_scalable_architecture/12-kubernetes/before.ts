/**
 * Before: what people write first (naive.yaml): the services as they run on a laptop, in Deployments, as root, no
 * requests or limits, `:latest`, the service secret as a literal env value, one Deployment per shard with its
 * ordinal written in, no NetworkPolicy and no PodDisruptionBudget; and for probes, the ones that "make sense" at
 * first sight: the gateway restarted when it is not ready (a liveness probe on /readyz, after a 1 s delay), the
 * shards given a readiness probe on a path they do not serve, the embedder none.
 */
import fs from 'node:fs';
import { parseManifests, type K8sObject } from '../../shared/deploy/k8s-validate.ts';
import type { ProbeSet, StartupMeasure } from '../../shared/deploy/probe-timings.ts';

export type { ProbeSet, ProbeSpec, StartupMeasure } from '../../shared/deploy/probe-timings.ts';

/** "Restart it when it is not ready": one liveness probe on the readiness path, a second after start. */
export function probeTimings(_m: StartupMeasure): ProbeSet {
  return { liveness: { path: '/readyz', periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 1, initialDelaySeconds: 1 } };
}

export async function manifests(): Promise<K8sObject[]> {
  return parseManifests(fs.readFileSync(new URL('./naive.yaml', import.meta.url), 'utf8'));
}
