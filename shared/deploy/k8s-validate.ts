/**
 * The checker for deploy/k8s: render each Kustomize overlay, validate every object against the Kubernetes OpenAPI
 * schemas with unknown fields rejected (k8s-schema.ts), then check the policies the lab's manifests keep.
 *
 *     npx tsx shared/deploy/k8s-validate.ts                   # every overlay (dev, prod) and monitoring/
 *     npx tsx shared/deploy/k8s-validate.ts --overlay prod --json
 *     npx tsx shared/deploy/k8s-validate.ts --file some.yaml  # any manifest file (what t4 lesson 12 counts)
 *
 * Policies (`policyViolations`; rule ids in brackets). For every container of every workload:
 * - [image-tag] a pinned tag, never `:latest` or none;
 * - [non-root] runAsNonRoot; [read-only-root] readOnlyRootFilesystem; [no-escalation] allowPrivilegeEscalation
 *   false; [drop-caps] capabilities drop ALL; [seccomp] seccompProfile RuntimeDefault (pod or container);
 * - [resources] cpu and memory requests and limits;
 * - [probes] (main containers) startup, readiness and liveness probes, with timings that keep the rules of
 *   probe-timings.ts for the service's measured start-up (deploy/k8s/startup-measured.json, by container name);
 * - [probe-target] each probe's port is a declared containerPort, the one the process is told to listen on
 *   (`--port N`), and its path is one the service serves (`/healthz`, `/readyz`);
 * - [env-ref] every `$(VAR)` in command/args is a variable the container defines; every ConfigMap/Secret it
 *   reads is rendered in the overlay (or created out of band: `externalSecrets`);
 * - [secret-in-env] no credential (…TOKEN, …SECRET, …PASSWORD, …API_KEY) given as a literal env value;
 * - [token] automountServiceAccountToken false (the services never call the Kubernetes API).
 * Per workload: [spread] topologySpreadConstraints when it may run more than one pod; [pdb] a PodDisruptionBudget
 * selects it when it runs more than one pod; [network-policy] a default-deny ingress policy exists and one admits
 * traffic to it. Across objects: [service] every Service selects pods and its named targetPort exists on them;
 * [shard-discovery] the shard StatefulSet's replicas = RAG_SHARDS = the gateway's shard URLs, each URL is
 * `shard-<i>.<headless service>:<shard port>`; [hpa] the HPA's target exists and its behavior is explicit.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { fail, parseCli } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { objectName, validateObjects, type K8sObject, type SchemaError } from './k8s-schema.ts';
import { PROBE_RULES, probeViolations, type ProbeSet, type ProbeSpec, type StartupMeasure } from './probe-timings.ts';

export type { K8sObject, SchemaError } from './k8s-schema.ts';

export const K8S_DIR = path.join(REPO_ROOT, 'deploy', 'k8s');
export const OVERLAYS = ['dev', 'prod'] as const;
/** Secrets a prod cluster holds before the manifests are applied (deploy/k8s/README.md). */
export const EXTERNAL_SECRETS: Record<string, string[]> = { prod: ['rag-internal', 'rag-api-keys', 'rag-tls'], dev: ['rag-tls'] };
/** The paths every service serves without the internal credential (http-rpc.ts, gateway.ts). */
export const SERVED_PATHS = ['/healthz', '/readyz'];

export interface Violation {
  rule: string;
  object: string;
  container?: string;
  message: string;
}

const exec = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** Why rendering cannot run here, or undefined. */
export async function kubectlSkipReason(): Promise<string | undefined> {
  try {
    await exec(KUBECTL, ['version', '--client'], { timeout: 20_000 });
    return undefined;
  } catch {
    return `kubectl not found (${KUBECTL}): install it (apt-get install kubectl, or the binary from dl.k8s.io) to render the overlays`;
  }
}

/** The dev overlay's placeholder secrets (git-ignored): written with random values when absent. */
export function ensureDevSecrets(dir = path.join(K8S_DIR, 'overlays', 'dev', 'secrets'), log: (m: string) => void = () => {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const token = path.join(dir, 'internal-token');
  if (!fs.existsSync(token)) {
    fs.writeFileSync(token, randomBytes(32).toString('base64url'), { mode: 0o600 });
    log(`wrote a random placeholder ${path.relative(REPO_ROOT, token)} (git-ignored)`);
  }
  const keys = path.join(dir, 'keys.json');
  if (!fs.existsSync(keys)) {
    fs.writeFileSync(keys, JSON.stringify({ version: 1, keys: [] }) + '\n', { mode: 0o600 });
    log(`wrote an empty keys file ${path.relative(REPO_ROOT, keys)} (add keys: npm run keys -- create --keys-file <it>)`);
  }
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML: ${d.errors[0].message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `kubectl kustomize <dir>`, parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  if (path.resolve(dir) === path.join(K8S_DIR, 'overlays', 'dev')) ensureDevSecrets();
  try {
    const { stdout } = await exec(KUBECTL, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
    return parseManifests(stdout);
  } catch (err) {
    throw new Error(`kubectl kustomize ${path.relative(REPO_ROOT, dir)} failed: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
  }
}

/** The measured start-up of each service, by container name (deploy/k8s/startup-measured.json). */
export function measuredStartup(file = path.join(K8S_DIR, 'startup-measured.json')): Record<string, StartupMeasure> {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { samplesMs: Record<string, number[]>; allowanceS?: Record<string, number> };
  return Object.fromEntries(Object.entries(j.samplesMs).map(([k, s]) => [k, { startupMs: s, allowanceS: j.allowanceS?.[k] ?? 0 }]));
}

// ---------------------------------------------------------------------------------------------------------------
// Policies

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

interface Workload {
  obj: K8sObject;
  name: string;
  pod: Obj;
  podLabels: Record<string, string>;
  replicas: number;
  maxReplicas: number;
}

function workloads(objs: readonly K8sObject[]): Workload[] {
  const hpas = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler') as Obj[];
  return objs
    .filter((o) => WORKLOADS.has(o.kind ?? ''))
    .map((o) => {
      const spec = (o as Obj).spec ?? {};
      const replicas = o.kind === 'DaemonSet' ? 2 : (spec.replicas ?? 1);
      const hpa = hpas.find((h) => h.spec?.scaleTargetRef?.kind === o.kind && h.spec?.scaleTargetRef?.name === o.metadata?.name);
      return {
        obj: o,
        name: objectName(o),
        pod: spec.template?.spec ?? {},
        podLabels: spec.template?.metadata?.labels ?? {},
        replicas,
        maxReplicas: Math.max(replicas, hpa?.spec?.maxReplicas ?? 0),
      };
    });
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** `--port N` / `--port=N` in a container's args, or env PORT. */
function listenPort(c: Obj): number | undefined {
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])].map(String);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && argv[i + 1] !== undefined) return Number(argv[i + 1]);
    const m = /^--port=(\d+)$/.exec(argv[i]);
    if (m) return Number(m[1]);
  }
  const env = (c.env ?? []).find((e: Obj) => e.name === 'PORT');
  return env?.value !== undefined ? Number(env.value) : undefined;
}

function probeSpec(p: Obj | undefined): ProbeSpec | undefined {
  if (!p) return undefined;
  return {
    path: p.httpGet?.path ?? (p.exec ? '(exec)' : p.tcpSocket ? '(tcp)' : p.grpc ? '(grpc)' : '?'),
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
  };
}

/** The probes of a container as probe-timings.ts sees them (Kubernetes' defaults filled in). */
export function containerProbes(c: Obj): ProbeSet {
  return { startup: probeSpec(c.startupProbe), readiness: probeSpec(c.readinessProbe), liveness: probeSpec(c.livenessProbe) };
}

export interface PolicyOptions {
  /** Start-up per container name; containers not in it get the presence checks only. */
  startup?: Record<string, StartupMeasure>;
  /** Secret names that exist in the cluster without being rendered. */
  externalSecrets?: string[];
}

export function policyViolations(objs: readonly K8sObject[], opts: PolicyOptions = {}): Violation[] {
  const out: Violation[] = [];
  const add = (rule: string, object: string, message: string, container?: string) => out.push({ rule, object, message, ...(container ? { container } : {}) });
  const names = (kind: string) => new Set(objs.filter((o) => o.kind === kind).map((o) => o.metadata?.name ?? ''));
  const configMaps = names('ConfigMap');
  const secrets = new Set([...names('Secret'), ...(opts.externalSecrets ?? [])]);
  const cmData = (name: string): Record<string, string> => ((objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === name) as Obj | undefined)?.data ?? {});
  const netpols = objs.filter((o) => o.kind === 'NetworkPolicy') as Obj[];
  const pdbs = objs.filter((o) => o.kind === 'PodDisruptionBudget') as Obj[];
  const defaultDeny = netpols.some((p) => Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length === 0 && !p.spec?.podSelector?.matchExpressions && (p.spec?.policyTypes ?? []).includes('Ingress') && !(p.spec?.ingress ?? []).length);
  const wls = workloads(objs);

  for (const w of wls) {
    const pod = w.pod;
    const psc = pod.securityContext ?? {};
    if (pod.automountServiceAccountToken !== false) add('token', w.name, 'automountServiceAccountToken is not false: every pod gets a Kubernetes API token it never uses');
    if (w.maxReplicas > 1 && !(pod.topologySpreadConstraints ?? []).length && !pod.affinity?.podAntiAffinity) {
      add('spread', w.name, `up to ${w.maxReplicas} pods and no topologySpreadConstraints: they may all land on one node`);
    }
    if (w.replicas > 1 && !pdbs.some((p) => selects(p.spec?.selector?.matchLabels, w.podLabels))) add('pdb', w.name, `${w.replicas} replicas and no PodDisruptionBudget: a node drain may take them all at once`);
    if (!defaultDeny) add('network-policy', w.name, 'no default-deny ingress NetworkPolicy: every pod in the cluster can connect to it');
    else if (!netpols.some((p) => (p.spec?.ingress ?? []).length > 0 && selects(p.spec?.podSelector?.matchLabels, w.podLabels))) add('network-policy', w.name, 'no NetworkPolicy admits traffic to it');

    const inits: Obj[] = pod.initContainers ?? [];
    const mains: Obj[] = pod.containers ?? [];
    for (const c of [...inits, ...mains]) {
      const main = mains.includes(c);
      const csc = c.securityContext ?? {};
      const who = c.name as string;
      const image = String(c.image ?? '');
      const tag = /^[^@]*?(?::([^/:@]+))?(@sha256:[0-9a-f]+)?$/.exec(image);
      if (!image) add('image-tag', w.name, 'no image', who);
      else if (!tag?.[2] && (!tag?.[1] || tag[1] === 'latest')) add('image-tag', w.name, `image ${image}: no pinned tag (:latest moves under a running Deployment)`, who);
      if ((csc.runAsNonRoot ?? psc.runAsNonRoot) !== true || (csc.runAsUser ?? psc.runAsUser) === 0) add('non-root', w.name, 'may run as root (runAsNonRoot is not true)', who);
      if (csc.readOnlyRootFilesystem !== true) add('read-only-root', w.name, 'root filesystem writable (readOnlyRootFilesystem is not true)', who);
      if (csc.allowPrivilegeEscalation !== false) add('no-escalation', w.name, 'allowPrivilegeEscalation is not false', who);
      if (!(csc.capabilities?.drop ?? []).includes('ALL')) add('drop-caps', w.name, 'capabilities not dropped (drop: [ALL])', who);
      if ((csc.seccompProfile?.type ?? psc.seccompProfile?.type) !== 'RuntimeDefault') add('seccomp', w.name, 'no seccompProfile RuntimeDefault', who);
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory']) if (c.resources?.[kind]?.[r] === undefined) add('resources', w.name, `no ${r} ${kind}`, who);
      }

      // $(VAR) references and the ConfigMaps / Secrets read
      const defined = new Set<string>((c.env ?? []).map((e: Obj) => e.name));
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef) {
          if (!configMaps.has(ef.configMapRef.name)) add('env-ref', w.name, `reads ConfigMap ${ef.configMapRef.name}, which is not rendered`, who);
          for (const k of Object.keys(cmData(ef.configMapRef.name))) defined.add(`${ef.prefix ?? ''}${k}`);
        }
        if (ef.secretRef && !secrets.has(ef.secretRef.name)) add('env-ref', w.name, `reads Secret ${ef.secretRef.name}, which is not rendered nor created out of band`, who);
      }
      for (const e of c.env ?? []) {
        if (e.value !== undefined && /TOKEN|SECRET|PASSWORD|API_?KEY/i.test(e.name)) add('secret-in-env', w.name, `${e.name} given as a literal value: it is in the manifest, in git and in \`kubectl get -o yaml\` (use a Secret)`, who);
        const cm = e.valueFrom?.configMapKeyRef;
        if (cm && !(cm.key in cmData(cm.name)) && !cm.optional) add('env-ref', w.name, `${e.name}: key ${cm.key} of ConfigMap ${cm.name} is not there`, who);
        const s = e.valueFrom?.secretKeyRef;
        if (s && !secrets.has(s.name)) add('env-ref', w.name, `${e.name}: Secret ${s.name} is not rendered nor created out of band`, who);
      }
      for (const arg of [...(c.command ?? []), ...(c.args ?? [])].map(String)) {
        for (const m of arg.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) if (!defined.has(m[1])) add('env-ref', w.name, `$(${m[1]}) in its arguments is not a variable it defines (it would be passed literally)`, who);
      }

      if (!main) continue;
      const probes = containerProbes(c);
      const measured = opts.startup?.[who];
      if (measured) {
        for (const m of probeViolations(probes, measured)) add('probes', w.name, m, who);
      } else {
        for (const [k, p] of Object.entries(probes)) if (!p) add('probes', w.name, `no ${k} probe`, who);
      }
      const ports: Obj[] = c.ports ?? [];
      const listens = listenPort(c);
      for (const [kind, p] of [['startup', c.startupProbe], ['readiness', c.readinessProbe], ['liveness', c.livenessProbe]] as const) {
        if (!p) continue;
        if (!p.httpGet) {
          add('probe-target', w.name, `${kind} probe is not an HTTP GET of a path the service serves`, who);
          continue;
        }
        const port = typeof p.httpGet.port === 'string' ? ports.find((x) => x.name === p.httpGet.port)?.containerPort : p.httpGet.port;
        if (port === undefined) add('probe-target', w.name, `${kind} probe port ${p.httpGet.port} is not a declared containerPort`, who);
        else if (listens !== undefined && port !== listens) add('probe-target', w.name, `${kind} probe on port ${port}, the process listens on ${listens} (--port)`, who);
        else if (listens === undefined) add('probe-target', w.name, `${kind} probe on port ${port}, but the container does not tell the process to listen there (--port)`, who);
        if (!SERVED_PATHS.includes(p.httpGet.path)) add('probe-target', w.name, `${kind} probe path ${p.httpGet.path} is not served (the services serve ${SERVED_PATHS.join(', ')})`, who);
      }
    }
  }

  for (const s of objs.filter((o) => o.kind === 'Service') as Obj[]) {
    const sel = s.spec?.selector;
    const targets = wls.filter((w) => selects(sel, w.podLabels));
    if (targets.length === 0) {
      add('service', objectName(s), 'selects no pods');
      continue;
    }
    for (const p of s.spec?.ports ?? []) {
      if (typeof p.targetPort === 'string' && !targets.some((w) => (w.pod.containers ?? []).some((c: Obj) => (c.ports ?? []).some((x: Obj) => x.name === p.targetPort)))) {
        add('service', objectName(s), `targetPort ${p.targetPort} is not a port of the pods it selects`);
      }
    }
  }

  const shardSts = objs.find((o) => o.kind === 'StatefulSet' && o.metadata?.name === 'shard') as Obj | undefined;
  const gateway = wls.find((w) => w.obj.kind === 'Deployment' && w.obj.metadata?.name === 'gateway');
  if (shardSts && gateway) {
    const gc: Obj = gateway.pod.containers?.[0] ?? {};
    const env: Record<string, string> = {};
    for (const ef of gc.envFrom ?? []) if (ef.configMapRef) Object.assign(env, cmData(ef.configMapRef.name));
    for (const e of gc.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const urls = (env.RAG_SHARD_URLS ?? '').split(',').filter(Boolean);
    const replicas = shardSts.spec?.replicas ?? 1;
    const headless = (objs as Obj[]).find((o) => o.kind === 'Service' && o.metadata?.name === shardSts.spec?.serviceName);
    const shardPort = listenPort(shardSts.spec?.template?.spec?.containers?.[0] ?? {});
    const obj = objectName(shardSts as K8sObject);
    if (!headless || headless.spec?.clusterIP !== 'None') add('shard-discovery', obj, `serviceName ${shardSts.spec?.serviceName} is not a headless Service (clusterIP: None): shard pods get no stable DNS names`);
    if (env.RAG_SHARDS !== undefined && Number(env.RAG_SHARDS) !== replicas) add('shard-discovery', obj, `${replicas} shard pods but RAG_SHARDS=${env.RAG_SHARDS}: the index is cut into a different number of parts`);
    if (urls.length !== replicas) add('shard-discovery', obj, `${replicas} shard pods but the gateway knows ${urls.length} shard URLs`);
    urls.forEach((u, i) => {
      const want = `http://${shardSts.metadata.name}-${i}.${shardSts.spec?.serviceName}:${shardPort}`;
      if (u !== want) add('shard-discovery', obj, `gateway shard URL ${i} is ${u}, the pod of ordinal ${i} is ${want}`);
    });
  }

  for (const h of objs.filter((o) => o.kind === 'HorizontalPodAutoscaler') as Obj[]) {
    const ref = h.spec?.scaleTargetRef ?? {};
    if (!wls.some((w) => w.obj.kind === ref.kind && w.obj.metadata?.name === ref.name)) add('hpa', objectName(h), `scales ${ref.kind}/${ref.name}, which is not rendered`);
    for (const dir of ['scaleUp', 'scaleDown']) {
      const b = h.spec?.behavior?.[dir];
      if (b?.stabilizationWindowSeconds === undefined || !(b?.policies ?? []).length) add('hpa', objectName(h), `behavior.${dir}: stabilizationWindowSeconds and policies not set explicitly (the defaults differ between versions)`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

export interface CheckResult {
  target: string;
  objects: number;
  schema: SchemaError[];
  policy: Violation[];
}

/** Schema, unknown fields and policies of a set of objects. */
export async function checkObjects(target: string, objs: readonly K8sObject[], opts: PolicyOptions = {}): Promise<CheckResult> {
  return { target, objects: objs.length, schema: await validateObjects(objs), policy: policyViolations(objs, opts) };
}

/** Renders and checks one overlay of deploy/k8s ('dev', 'prod'). */
export async function checkOverlay(overlay: string): Promise<CheckResult> {
  const objs = await render(path.join(K8S_DIR, 'overlays', overlay));
  return checkObjects(`overlays/${overlay}`, objs, { startup: measuredStartup(), externalSecrets: EXTERNAL_SECRETS[overlay] ?? [] });
}

export function formatResult(r: CheckResult): string {
  const lines = [`${r.target}: ${r.objects} objects, ${r.schema.length} schema errors, ${r.policy.length} policy violations`];
  for (const e of r.schema) lines.push(`  schema  ${e.object}${e.path}: ${e.message}`);
  for (const v of r.policy) lines.push(`  ${v.rule.padEnd(15)} ${v.object}${v.container ? ` [${v.container}]` : ''}: ${v.message}`);
  return lines.join('\n');
}

const USAGE = `
Usage: npx tsx shared/deploy/k8s-validate.ts [--overlay NAME]... [--file <yaml>] [--json] [--init-dev-secrets]

Renders the Kustomize overlays of deploy/k8s (kubectl kustomize), validates every object against the Kubernetes
OpenAPI schemas (kubernetes-models) with unknown fields rejected, and checks the lab's policies (security context,
resources, probes wired to /healthz and /readyz with timings from the measured start-up, NetworkPolicy, PDB,
spread, shard discovery, HPA). Exit status 1 when anything is found.

Options:
  --overlay NAME      dev or prod (repeatable); default: both, and deploy/k8s/monitoring
  --file <yaml>       check a manifest file instead (no rendering; probe timings against the measured start-up)
  --json              one JSON object per target on stdout
  --init-dev-secrets  write the dev overlay's git-ignored placeholder secrets if absent, then exit
  -h, --help          show this help
`;

async function main(): Promise<number> {
  const { values } = parseCli(USAGE, { overlay: { type: 'string', multiple: true }, file: { type: 'string' }, json: { type: 'boolean' }, 'init-dev-secrets': { type: 'boolean' } } as never);
  const v = values as { overlay?: string[]; file?: string; json?: boolean; 'init-dev-secrets'?: boolean };
  const log = (m: string) => process.stderr.write(m + '\n');
  if (v['init-dev-secrets']) {
    ensureDevSecrets(undefined, log);
    return 0;
  }
  const results: CheckResult[] = [];
  if (v.file) {
    if (!fs.existsSync(v.file)) fail(`no such file: ${v.file}`);
    results.push(await checkObjects(v.file, parseManifests(fs.readFileSync(v.file, 'utf8')), { startup: measuredStartup() }));
  } else {
    const skip = await kubectlSkipReason();
    if (skip) fail(skip, 1);
    const overlays = v.overlay ?? [...OVERLAYS];
    for (const o of overlays) if (!fs.existsSync(path.join(K8S_DIR, 'overlays', o))) fail(`no overlay ${o} in deploy/k8s/overlays (${OVERLAYS.join(', ')})`);
    for (const o of overlays) {
      log(`rendering and checking overlays/${o} …`);
      results.push(await checkOverlay(o));
    }
    if (!v.overlay) {
      log('rendering and checking monitoring …');
      results.push(await checkObjects('monitoring', await render(path.join(K8S_DIR, 'monitoring'))));
    }
  }
  for (const r of results) process.stdout.write((v.json ? JSON.stringify(r) : formatResult(r)) + '\n');
  return results.some((r) => r.schema.length + r.policy.length > 0) ? 1 : 0;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => fail(err.message, 1),
  );
}
