/**
 * Benchmark for 12-kubernetes: the manifests the services are deployed with, counted by the checker
 * (shared/deploy/k8s-validate.ts). before = naive.yaml, what people write first; after = deploy/k8s, the dev overlay
 * rendered by `kubectl kustomize`, its probes from after.ts `probeTimings`; exercise = the same manifests with the
 * learner's probes.
 *
 * Headline: policy violations the checker finds (security context, resources, probes against the measured start-up,
 * probe targets, secrets, NetworkPolicy, PDB, spread, shard discovery, HPA): counted, the same on every machine.
 * Beside it, per variant: schema errors (Kubernetes OpenAPI schemas with unknown fields rejected), and what the
 * variant's gateway and shard probes do in the kubelet model (shared/deploy/probe-timings.ts): starts killed while
 * loading, pods restarted by a 30 s dependency outage. The tinybench table times one policy check: the checker's
 * own cost (it runs in CI).
 *
 * Run: npm run t4 -- --only 12-kubernetes [--quick] [--impl exercise]   (needs kubectl; skipped without it)
 */
import { kubectlSkipReason, measuredStartup, policyViolations, type K8sObject, type Violation } from '../../shared/deploy/k8s-validate.ts';
import { validateObjects } from '../../shared/deploy/k8s-schema.ts';
import { simulateProbes, type StartupMeasure } from '../../shared/deploy/probe-timings.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;

interface Input {
  startup: Record<string, StartupMeasure>;
  objs: Record<string, K8sObject[]>;
  impls: Record<string, Mod>;
}

const HEADLINE = 'policy violations found by the checker';
const opts = (startup: Record<string, StartupMeasure>) => ({ startup, externalSecrets: ['rag-tls'] });

export default defineLesson<{ label: string }, Input>({
  id: 't4/12-kubernetes',
  title: 'Kubernetes: naive manifests vs a hardened Kustomize base (probes from the measured start-up)',
  workload: 'the split services (gateway, 2 shards, embedder, ingest worker) as Kubernetes objects, checked by shared/deploy/k8s-validate.ts',
  sizes: { quick: { label: 'quick' }, full: { label: 'full' } },
  skip: kubectlSkipReason,
  setup: async (_size, ctx) => {
    const startup = measuredStartup();
    const impls: Record<string, Mod> = { before: before as unknown as Mod, after };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) impls[EXERCISE] = ex;
    const objs: Record<string, K8sObject[]> = {};
    for (const [variant, impl] of Object.entries(impls)) {
      ctx.log(`${variant}: rendering its manifests …`);
      objs[variant] = await impl.manifests();
    }
    return { startup, objs, impls };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'violations', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => policyViolations(input.objs.before, opts(input.startup)),
    after: (input) => policyViolations(input.objs.after, opts(input.startup)),
  },
  exercise: (input) => policyViolations(input.objs[EXERCISE], opts(input.startup)),
  options: { iterations: 20, time: 50, warmupTime: 10, rounds: 1 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const [variant, objs] of Object.entries(input.objs)) {
      const found: Violation[] = policyViolations(objs, opts(input.startup));
      const byRule = new Map<string, number>();
      for (const v of found) byRule.set(v.rule, (byRule.get(v.rule) ?? 0) + 1);
      const rules = [...byRule].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`).join(', ');
      metrics.push({ name: HEADLINE, value: found.length, unit: 'violations', variant, n: 1, error: 0, note: rules || 'none' });
      ctx.log(`${variant}: ${found.length} policy violations${rules ? ` (${rules})` : ''}`);
      const schema = await validateObjects(objs);
      metrics.push({ name: 'schema errors (unknown fields rejected)', value: schema.length, unit: 'errors', variant, note: `${objs.length} objects` });
      const impl = input.impls[variant];
      for (const svc of ['gateway', 'shard']) {
        const m = input.startup[svc];
        const s = simulateProbes(impl.probeTimings(m), m);
        metrics.push(
          { name: `${svc}: pods killed while starting (kubelet model)`, value: s.killedStarting, unit: 'pods', variant, note: `of ${s.starts} starts up to 3× the measured ones (+ up to ${m.allowanceS ?? 0} s)` },
          { name: `${svc}: pods restarted by a 30 s dependency outage`, value: s.restartedByDependencyBlip, unit: 'pods', variant, note: `of ${s.pods}` },
        );
      }
    }
    for (const [svc, m] of Object.entries(input.startup)) {
      const sorted = [...m.startupMs].sort((a, b) => a - b);
      metrics.push({ name: `${svc}: start-up to ready (measured, p99)`, value: sorted[Math.ceil(0.99 * sorted.length) - 1], unit: 'ms', note: `${sorted.length} starts as processes (deploy/k8s/startup-measured.json); startup probe budget ${after.probeTimings(m).startup!.failureThreshold - 1} s` });
    }
    return { metrics };
  },
});
