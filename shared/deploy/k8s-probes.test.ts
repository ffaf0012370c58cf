/**
 * Every probe in deploy/k8s is served by the process the manifest starts. The dev overlay is rendered, and each
 * workload's main container is started here as the kubelet would start it in the image: the image's entrypoint
 * (shared/deploy/entrypoint.ts, from the checkout) with the container's `args` (`$(VAR)`s expanded from its env and
 * ConfigMap), its environment (secrets replaced by a test value; the cluster's addresses by this machine's: NATS,
 * Redis, the other services; RAG_INDEX the checkout's saved index), on a free port in place of its containerPort. Then every startup, readiness and liveness probe's path is fetched on that port and
 * must answer 200 (readiness once the service is ready).
 *
 * Before the processes start, it checks what makes the port swap honest: each probe's port resolves to the
 * container's declared port, and that port is the `--port` the process is given.
 *
 * Needs kubectl, NATS with JetStream and Redis (the shards follow the write log, the ingest worker takes jobs);
 * skipped without them, saying how to get them. Five processes (embedder, 2 shards, ingest worker, gateway), started
 * at once as a cluster would start them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSplitIndex } from '../services/cli-up.ts';
import { redisSkipReason } from '../services/ingest-worker.ts';
import { connectNats, deleteWriteLog, NATS_URL, natsSkipReason } from '../services/jetstream-log.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { K8S_DIR, kubectlSkipReason, render, type K8sObject } from './k8s-validate.ts';
import { freePort } from '../serve/test-process.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const skip = (await kubectlSkipReason()) ?? (await natsSkipReason()) ?? (await redisSkipReason());
if (skip) console.warn(`probe-path test skipped: ${skip}`);


interface Running {
  name: string;
  child: ChildProcess;
  port: number;
  url: string;
  stderr: string[];
}

describe.skipIf(skip !== undefined)('deploy/k8s probes are served by the processes the manifests start', () => {
  const running: Running[] = [];
  const logName = `k8sprobes_${process.pid}`;
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-k8s-probes-'));
  let objs: K8sObject[] = [];
  let index = '';

  beforeAll(async () => {
    index = await ensureSplitIndex();
    objs = await render(path.join(K8S_DIR, 'overlays', 'dev'));
    fs.writeFileSync(path.join(keysDir, 'keys.json'), JSON.stringify({ version: 1, keys: [] }));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(
      running.map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
            const t = setTimeout(() => r.child.kill('SIGKILL'), 3000);
            r.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            r.child.kill('SIGTERM');
          }),
      ),
    );
    const nc = await connectNats().catch(() => undefined);
    if (nc) await deleteWriteLog(nc, logName).catch(() => {}).finally(() => nc.close());
    // the ingest worker's BullMQ queue (ingest-worker.ts: rag-split-<log>)
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys = await redis.keys(`bull:rag-split-${logName}:*`);
      if (keys.length > 0) await redis.del(...keys);
    } catch {
      // best effort
    } finally {
      redis.disconnect();
    }
    fs.rmSync(keysDir, { recursive: true, force: true });
  }, 30_000);

  const pods = () =>
    objs
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .map((o) => ({ name: o.metadata!.name!, kind: o.kind!, replicas: ((o as Obj).spec.replicas ?? 1) as number, container: (o as Obj).spec.template.spec.containers[0] as Obj }));

  const configMap = (name: string): Record<string, string> => ((objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === name) as Obj | undefined)?.data ?? {});

  /** The container's environment as the pod would have it, then this machine's addresses in place of the cluster's. */
  function envOf(c: Obj, ordinal: number, podName: string, local: Record<string, string>): Record<string, string> {
    const env: Record<string, string> = {};
    for (const ef of c.envFrom ?? []) if (ef.configMapRef) Object.assign(env, configMap(ef.configMapRef.name));
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = `test-secret-${e.valueFrom.secretKeyRef.name}`;
      else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMap(e.valueFrom.configMapKeyRef.name)[e.valueFrom.configMapKeyRef.key];
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
      else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.labels['apps.kubernetes.io/pod-index']") env[e.name] = String(ordinal);
      else throw new Error(`${podName}: env ${e.name} has a source this test does not model: ${JSON.stringify(e.valueFrom)}`);
    }
    return { ...env, ...local };
  }

  /**
   * The image's entrypoint (shared/deploy/entrypoint.ts, run from the checkout under tsx) with the container's args,
   * `$(VAR)` expanded as the kubelet does; the free port in place of its containerPort.
   */
  function argvOf(c: Obj, env: Record<string, string>, containerPort: number, port: number): string[] {
    expect(c.command, `${c.name}: runs the image's entrypoint (no command override)`).toBeUndefined();
    const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
    const args = (c.args ?? []).map((a: unknown) => expand(String(a)));
    expect(args.join(' '), `${c.name}: no $(VAR) left unexpanded`).not.toMatch(/\$\(/);
    const i = args.indexOf('--port');
    expect(Number(args[i + 1]), `${c.name}: --port is its containerPort`).toBe(containerPort);
    args[i + 1] = String(port);
    return ['--import', 'tsx', 'shared/deploy/entrypoint.ts', ...args];
  }

  async function start(name: string, c: Obj, env: Record<string, string>, port: number): Promise<Running> {
    const declared = c.ports?.find((p: Obj) => p.name === 'http')?.containerPort as number;
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const port = c[kind].httpGet.port;
      expect(typeof port === 'string' ? c.ports.find((p: Obj) => p.name === port)?.containerPort : port, `${name} ${kind} port`).toBe(declared);
    }
    const argv = argvOf(c, env, declared, port);
    const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const r: Running = { name, child, port, url: `http://127.0.0.1:${port}`, stderr: [] };
    child.stderr!.on('data', (b: Buffer) => r.stderr.push(b.toString()));
    running.push(r);
    return r;
  }

  /** Polls `path` until 200 (the startup probe's job) or the process dies. */
  async function until200(r: Running, probePath: string, ms = 60_000): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (r.child.exitCode !== null) throw new Error(`${r.name} exited (${r.child.exitCode}) before ${probePath} answered:\n${r.stderr.join('').slice(-2000)}`);
      const status = await fetch(`${r.url}${probePath}`, { signal: AbortSignal.timeout(2000) }).then((x) => x.status, () => 0);
      if (status === 200 || Date.now() > deadline) return status;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  async function probeAll(r: Running, c: Obj): Promise<void> {
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const p = c[kind].httpGet.path as string;
      expect(await until200(r, p), `${r.name}: ${kind} GET ${p} on the port its --port names`).toBe(200);
    }
  }

  it('the manifests start every service, and every probe path answers 200 on its port', async () => {
    const ws = pods();
    expect(ws.map((w) => w.name).sort()).toEqual(['embedder', 'gateway', 'ingest-worker', 'shard']);
    // this machine's addresses; /data/index (the init container's output) is the checkout's saved index
    const base = { RAG_BIND_HOST: '127.0.0.1', NATS_URL, REDIS_URL, RAG_WRITE_LOG: logName, RAG_INDEX: index };
    const by = (n: string) => ws.find((w) => w.name === n)!;

    // every address is known before anything starts (the ports are picked here), so all start at once, as in a
    // cluster, and each becomes ready when what it needs is (the gateway: once every shard answered)
    const emb = by('embedder');
    const sh = by('shard');
    const ing = by('ingest-worker');
    const gw = by('gateway');
    const ports = { embedder: await freePort(), shards: [] as number[], ingest: await freePort(), gateway: await freePort() };
    for (let i = 0; i < sh.replicas; i++) ports.shards.push(await freePort());
    const url = (p: number) => `http://127.0.0.1:${p}`;
    const local = { ...base, RAG_EMBEDDER_URL: url(ports.embedder), RAG_SHARD_URLS: ports.shards.map(url).join(',') };
    const genv = envOf(gw.container, 0, 'gateway-0', local);
    // the keys file the Secret mounts at /etc/rag/keys
    genv.RAG_GATEWAY_SERVER = genv.RAG_GATEWAY_SERVER.replace('/etc/rag/keys', keysDir);
    const [embedder, ingest, gateway, ...shards] = await Promise.all([
      start('embedder', emb.container, envOf(emb.container, 0, 'embedder-0', local), ports.embedder),
      start('ingest-worker', ing.container, envOf(ing.container, 0, 'ingest-worker-0', local), ports.ingest),
      start('gateway', gw.container, genv, ports.gateway),
      ...ports.shards.map((p, i) => start(`shard-${i}`, sh.container, envOf(sh.container, i, `shard-${i}`, local), p)),
    ]);
    await Promise.all([probeAll(embedder, emb.container), ...shards.map((s) => probeAll(s, sh.container)), probeAll(ingest, ing.container), probeAll(gateway, gw.container)]);

    // and it is the real stack: a query through the gateway reaches both shards
    const res = await fetch(`${gateway.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'the jury said', k: 3 }) });
    const body = (await res.json()) as { hits: unknown[]; partial: boolean };
    expect(res.status).toBe(200);
    expect(body.partial).toBe(false);
    expect(body.hits.length).toBe(3);
  }, 120_000);
});
