/**
 * Running a server file as a child process and talking to it over IPC, for both topologies.
 *
 * Parent side: `spawnServer(file, env)` runs `node --import tsx <file>` and resolves once the child reports
 * `{ t: 'ready', port }`, or rejects with the tail of the child's stderr if it exits or stays silent first.
 * Child side: `isEntry(import.meta.url)` tells a module it was started as the server, `serveControl` answers the
 * parent's questions (which pids serve requests) and `reportReady(port)` says the port is open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerHandle {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The process that was started (the server itself, or the cluster primary). */
  pid: number;
  /** Pids of the processes that are listening and answering requests right now. */
  workers(): Promise<number[]>;
  /** SIGTERM, then wait for the exit (SIGKILL after `killAfterMs`). Safe to call twice. */
  close(killAfterMs?: number): Promise<ExitInfo>;
  /** Resolves when the process exits, for whatever reason. */
  exited: Promise<ExitInfo>;
}

type FromChild = { t: 'ready'; port: number } | { t: 'workers'; id: number; pids: number[] };
type ToChild = { t: 'workers'; id: number };

const isMsg = (m: unknown): m is { t: string } => typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

export async function spawnServer(file: string, env: Record<string, string>, readyTimeoutMs = 120_000): Promise<ServerHandle> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<ExitInfo>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pending = new Map<number, (pids: number[]) => void>();
  let nextId = 0;
  child.on('message', (m: unknown) => {
    if (!isMsg(m)) return;
    const msg = m as FromChild;
    if (msg.t === 'workers') {
      pending.get(msg.id)?.(msg.pids);
      pending.delete(msg.id);
    }
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} was not ready after ${readyTimeoutMs} ms\n${stderr}`));
    }, readyTimeoutMs);
    child.on('message', (m: unknown) => {
      if (isMsg(m) && m.t === 'ready') {
        clearTimeout(timer);
        resolve((m as unknown as { port: number }).port);
      }
    });
    exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before it was ready (code ${e.code}, signal ${e.signal}):\n${stderr.trim()}`));
    });
  });

  let closing: Promise<ExitInfo> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    exited,
    workers: () =>
      new Promise((resolve, reject) => {
        if (!child.connected) return reject(new Error('server process is gone'));
        const id = ++nextId;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('server did not answer the workers request within 5 s'));
        }, 5_000);
        pending.set(id, (pids) => {
          clearTimeout(timer);
          resolve(pids);
        });
        child.send({ t: 'workers', id } satisfies ToChild);
      }),
    close: (killAfterMs = 20_000) => {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        const e = await exited;
        clearTimeout(timer);
        return e;
      })();
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Child side

/** True when the module at `moduleUrl` is the file node was started with (not imported by a test or bench). */
export function isEntry(moduleUrl: string): boolean {
  const main = process.argv[1];
  return main !== undefined && pathToFileURL(main).href === moduleUrl;
}

/** Tell the parent the server is listening. */
export function reportReady(port: number): void {
  process.send?.({ t: 'ready', port } satisfies FromChild);
}

/** Answer the parent's `workers` requests with `pids()`. */
export function serveControl(pids: () => number[]): void {
  process.on('message', (m: unknown) => {
    if (isMsg(m) && m.t === 'workers') process.send?.({ t: 'workers', id: (m as ToChild).id, pids: pids() } satisfies FromChild);
  });
}

/** Run `fn` once, on the first of SIGTERM, SIGINT or the parent going away, then exit with its outcome. */
export function onShutdown(fn: () => Promise<void>): void {
  let started = false;
  const run = () => {
    if (started) return;
    started = true;
    fn().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', run);
  process.on('SIGINT', run);
  process.on('disconnect', run);
}

/** Read a positive integer from the environment. */
export function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return v;
}
