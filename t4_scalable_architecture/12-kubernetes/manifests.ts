/** Shared by before/after/exercise: put a probe set into rendered manifests (what the bench measures). */
import type { K8sObject } from '../../shared/deploy/k8s-validate.ts';
import type { ProbeSet, ProbeSpec, StartupMeasure } from '../../shared/deploy/probe-timings.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function probe(p: ProbeSpec | undefined, port: unknown): Obj | undefined {
  if (!p) return undefined;
  return {
    httpGet: { path: p.path, port },
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    failureThreshold: p.failureThreshold,
    ...(p.initialDelaySeconds ? { initialDelaySeconds: p.initialDelaySeconds } : {}),
  };
}

/**
 * A copy of `objs` where every main container with a measured start-up (by container name) has the probes
 * `timings` gives for it, on its first declared port (`http`).
 */
export function withProbes(objs: readonly K8sObject[], timings: (m: StartupMeasure) => ProbeSet, startup: Record<string, StartupMeasure>): K8sObject[] {
  const out = structuredClone(objs) as Obj[];
  for (const o of out) {
    for (const c of (o.spec?.template?.spec?.containers ?? []) as Obj[]) {
      const m = startup[c.name];
      if (!m) continue;
      const port = c.ports?.[0]?.name ?? c.ports?.[0]?.containerPort;
      const set = timings(m);
      for (const [key, field] of [['startup', 'startupProbe'], ['readiness', 'readinessProbe'], ['liveness', 'livenessProbe']] as const) {
        const p = probe(set[key], port);
        if (p) c[field] = p;
        else delete c[field];
      }
    }
  }
  return out as K8sObject[];
}
