/**
 * deploy/k8s, checked the way CI checks it: every overlay renders with `kubectl kustomize`, every object passes the
 * Kubernetes OpenAPI schemas with unknown fields rejected, and the lab's policies hold (k8s-validate.ts). Also: the
 * strictness pass catches what the schema pass lets through (a misspelt field), and the policy checks catch the
 * mistakes they are for. Rendering needs kubectl (skipped without it, saying how to get it); the rest runs anywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { schemaErrors, unknownFields } from './k8s-schema.ts';
import { checkObjects, checkOverlay, EXTERNAL_SECRETS, formatResult, K8S_DIR, kubectlSkipReason, measuredStartup, OVERLAYS, policyViolations, render, type K8sObject } from './k8s-validate.ts';

const kubectlSkip = await kubectlSkipReason();
if (kubectlSkip) console.warn(`deploy/k8s rendering tests skipped: ${kubectlSkip}`);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A small valid Deployment (hand-written: no kubectl needed). */
function deployment(): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'gateway', labels: { app: 'gateway' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'gateway' } },
      template: {
        metadata: { labels: { app: 'gateway' } },
        spec: {
          containers: [
            {
              name: 'gateway',
              image: 'rag-lab/engine:1.0.0',
              args: ['--port', '8080'],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 3 },
              resources: { limits: { cpu: '1', memory: '512Mi' } },
            },
          ],
        },
      },
    },
  };
}

describe('schema and unknown fields', () => {
  it('accepts a valid object', async () => {
    expect(await schemaErrors(deployment())).toEqual([]);
    expect(unknownFields(deployment())).toEqual([]);
  });

  it('rejects a misspelt field, which the schema pass alone lets through', async () => {
    const d = deployment();
    d.spec.replica = 3; // replicas
    d.spec.template.spec.containers[0].readinessProbe.httpget = d.spec.template.spec.containers[0].readinessProbe.httpGet; // httpGet
    delete d.spec.template.spec.containers[0].readinessProbe.httpGet;
    d.spec.template.spec.containers[0].securityContext = { readOnlyRootFileSystem: true }; // …Filesystem
    expect(await schemaErrors(d as K8sObject), 'kubernetes-models allows additional properties').toEqual([]);
    const found = unknownFields(d as K8sObject).map((e) => `${e.path}: ${e.message}`).sort();
    expect(found).toEqual([
      '/spec/replica: unknown field "replica" (did you mean "replicas"?)',
      '/spec/template/spec/containers/0/readinessProbe/httpget: unknown field "httpget" (did you mean "httpGet"?)',
      '/spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem: unknown field "readOnlyRootFileSystem" (did you mean "readOnlyRootFilesystem"?)',
    ]);
  });

  it('accepts any key in maps (labels, resources, ConfigMap data)', () => {
    const d = deployment();
    d.metadata.labels['example.com/anything'] = 'x';
    d.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'] = 1;
    expect(unknownFields([d as K8sObject, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { ANY_KEY: 'v' } }])).toEqual([]);
  });

  it('reports schema errors with their path', async () => {
    const d = deployment();
    d.spec.replicas = 'two';
    const errs = await schemaErrors(d as K8sObject);
    expect(errs.map((e) => e.path)).toContain('/spec/replicas');
  });

  it('says which kinds it does not know', () => {
    expect(unknownFields({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })[0].message).toMatch(/unknown kind/);
  });
});

describe.skipIf(kubectlSkip !== undefined)('deploy/k8s overlays', () => {
  for (const overlay of OVERLAYS) {
    it(`${overlay}: renders, every object valid, no policy violation`, async () => {
      const r = await checkOverlay(overlay);
      expect(r.objects).toBeGreaterThan(15);
      expect(r.schema.length + r.policy.length, formatResult(r)).toBe(0);
    });
  }

  it('monitoring: the prometheus-adapter rule serves the metric the gateway HPA asks for', async () => {
    const objs = await render(path.join(K8S_DIR, 'monitoring'));
    const r = await checkObjects('monitoring', objs);
    expect(r.schema, formatResult(r)).toEqual([]);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as Obj;
    const rules = parse(cm.data['config.yaml']).rules as Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }>;
    const hpa = parse(fs.readFileSync(path.join(K8S_DIR, 'base', 'hpa-gateway.yaml'), 'utf8')) as Obj;
    const pods = hpa.spec.metrics.find((m: Obj) => m.type === 'Pods');
    const rule = rules.find((x) => x.name.as === pods.pods.metric.name);
    expect(rule, `no adapter rule produces ${pods.pods.metric.name}`).toBeDefined();
    expect(rule!.seriesQuery).toContain('rag_http_requests_total');
    expect(rule!.metricsQuery).toMatch(/rate\(<<\.Series>>/);
  });

  it('catches a shard count that the gateway does not know, and probes on the wrong port or a dependency', async () => {
    const objs = (await render(path.join(K8S_DIR, 'overlays', 'prod'))) as Obj[];
    const sts = objs.find((o) => o.kind === 'StatefulSet')!;
    sts.spec.replicas = 5;
    const gw = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gateway')!;
    const c = gw.spec.template.spec.containers[0];
    c.livenessProbe.httpGet.path = '/readyz';
    c.readinessProbe.httpGet.port = 9090;
    delete c.securityContext.readOnlyRootFilesystem;
    const found = policyViolations(objs as K8sObject[], { startup: measuredStartup(), externalSecrets: EXTERNAL_SECRETS.prod }).map((v) => `${v.rule}: ${v.message}`);
    expect(found).toContain('shard-discovery: 5 shard pods but RAG_SHARDS=4: the index is cut into a different number of parts');
    expect(found).toContain('shard-discovery: 5 shard pods but the gateway knows 4 shard URLs');
    expect(found).toContain('probes: liveness probe checks /readyz, which fails when a dependency does: a dependency blip restarts every pod');
    expect(found).toContain('probe-target: readiness probe on port 9090, the process listens on 8080 (--port)');
    expect(found).toContain('read-only-root: root filesystem writable (readOnlyRootFilesystem is not true)');
    expect(found).toHaveLength(5);
  });

  it('catches a Secret that prod would render from the repository', async () => {
    const objs = await render(path.join(K8S_DIR, 'overlays', 'prod'));
    const found = policyViolations(objs, { startup: measuredStartup(), externalSecrets: [] }).map((v) => v.message);
    expect(found.some((m) => m.includes('Secret rag-internal is not rendered nor created out of band'))).toBe(true);
  });
});
