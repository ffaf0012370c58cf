/**
 * One instance of the lesson's service as a separate process, for the bench: `spawnInstance()` spawns this file with
 * tsx; the child connects to NATS, and on `start()` runs the given implementation's `startInstance` (before.ts,
 * after.ts or exercise.ts) against a NATS KV registry (shared/services/discovery.ts `natsKvBackend`, the bench's own
 * bucket). `stop()` sends SIGTERM (the child runs the instance's graceful `stop()`, then exits); `kill()` sends
 * SIGKILL (nothing runs: no deregistration, no drain).
 *
 * The instance answers `search` (a read) with its id after ~1 ms of work, and `append` (a write) with its id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { natsKvBackend, Registry } from '../../shared/services/discovery.ts';
import type { RpcHandler } from '../../shared/services/rpc.ts';
import type * as After from './after.ts';

export interface InstanceSpec {
  /** Absolute path of the implementation (before.ts, after.ts, exercise.ts). */
  impl: string;
  service: string;
  id: string;
  bucket: string;
  ttlMs: number;
  heartbeatMs: number;
  drainGraceMs: number;
}

export interface InstanceProcess {
  readonly id: string;
  readonly pid: number;
  /** Serves and registers; resolves with its URL once it has. */
  start(): Promise<string>;
  /** SIGTERM: the graceful stop; resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
}

const FILE = fileURLToPath(import.meta.url);

export async function spawnInstance(spec: InstanceSpec): Promise<InstanceProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FILE], {
    cwd: REPO_ROOT,
    env: { ...process.env, DISCOVERY_CHILD: JSON.stringify(spec) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = (t: string) =>
    new Promise<{ t: string; url?: string; message?: string }>((resolve, reject) => {
      const onMsg = (m: { t: string; url?: string; message?: string }) => {
        if (m.t === t || m.t === 'error') {
          child.off('message', onMsg);
          if (m.t === 'error') reject(new Error(`instance ${spec.id}: ${m.message}`));
          else resolve(m);
        }
      };
      child.on('message', onMsg);
      exited.then(() => reject(new Error(`instance ${spec.id} exited:\n${stderr.trim()}`)));
    });
  await waitFor('loaded');
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    id: spec.id,
    pid: child.pid!,
    start: async () => {
      const ready = waitFor('ready');
      child.send({ t: 'start' });
      return (await ready).url!;
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}

async function runChild(spec: InstanceSpec): Promise<void> {
  const impl = (await import(pathToFileURL(spec.impl).href)) as typeof After;
  const backend = await natsKvBackend({ bucket: spec.bucket });
  const registry = new Registry(backend);
  const handler: RpcHandler = async (method) => {
    if (method === 'search') await new Promise((r) => setTimeout(r, 1));
    return { id: spec.id, method };
  };
  let inst: After.RunningInstance | undefined;
  process.on('SIGTERM', () => {
    void (async () => {
      try {
        await inst?.stop();
        await registry.close();
      } finally {
        process.exit(0);
      }
    })();
  });
  process.on('message', (m: { t: string }) => {
    if (m.t !== 'start') return;
    impl
      .startInstance(registry, { service: spec.service, id: spec.id, handler, ttlMs: spec.ttlMs, heartbeatMs: spec.heartbeatMs, drainGraceMs: spec.drainGraceMs })
      .then(
        (i) => {
          inst = i;
          process.send!({ t: 'ready', url: i.url });
        },
        (err: Error) => process.send!({ t: 'error', message: err.message }),
      );
  });
  process.on('disconnect', () => process.exit(0)); // the parent is gone
  process.send!({ t: 'loaded' });
}

if (process.env.DISCOVERY_CHILD) await runChild(JSON.parse(process.env.DISCOVERY_CHILD) as InstanceSpec);
