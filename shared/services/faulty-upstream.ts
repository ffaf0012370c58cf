/**
 * A retriever shard whose faults are switched at run time: the upstream the resilience lessons (t4/06 circuit
 * breaker, t4/07 retries) put under load. It is a separate process (`startFaultyUpstream()` spawns this file with
 * tsx), served by http-rpc.ts on 127.0.0.1, port 0, and driven from the parent over IPC:
 *
 *     const shard = await startFaultyUpstream({ name: 'shard-0' });
 *     const client = httpRpcClient(shard.url);
 *     await shard.setFault({ mode: 'hang' });               // accepted, never answered: callers wait for their timeout
 *     await shard.setFault({ errorRate: 1 });               // every call answered 503 UNAVAILABLE, at once
 *     await shard.setFault({ latencyMs: 800 });             // slow: every answer 800 ms late
 *     await shard.setFault({ mode: 'refuse' });             // the port is closed: connection refused
 *     await shard.setFault({});                             // healthy again
 *     const { arrivals } = await shard.stats();             // calls that reached the shard (the load it received)
 *     await shard.close();
 *
 * The shard answers `search` with `{ shard, q, hits }` (a few fake hits: this is about the network, not retrieval)
 * and counts every call that reaches it, answered or not. `faultyHandler` is the same fault injection in-process.
 *
 * With `forwardTo: <url>` it is a fault-injecting proxy in front of a real service instead (t4/08 puts one before a
 * retriever shard and one before the embedder): every call, past its faults, is sent on to that http-rpc service
 * with the budget the call has left and the same credential (`secret`).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../util/random.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { RpcError, type RpcHandler } from './rpc.ts';

export interface Fault {
  /** 'up' (default) serves; 'hang' accepts calls and never answers (until the caller gives up or its budget runs out); 'refuse' closes the port (connection refused). */
  mode?: 'up' | 'hang' | 'refuse';
  /** Share of calls answered with `errorCode` (0-1), drawn from a seeded stream. Default 0. */
  errorRate?: number;
  /** Default 'UNAVAILABLE' (503). */
  errorCode?: 'UNAVAILABLE' | 'OVERLOADED' | 'INTERNAL';
  /** Added before every answer, ms. Default 0. */
  latencyMs?: number;
}

export interface UpstreamStats {
  /** Calls that reached the shard since it started (answered, failed or still hanging). */
  arrivals: number;
  ok: number;
  failed: number;
  /** Calls being served right now (hanging or waiting out `latencyMs`). */
  inFlight: number;
}

/** `handler` with the faults `fault()` describes at each call; counts into `stats`. */
export function faultyHandler(handler: RpcHandler, fault: () => Fault, stats: UpstreamStats, seed = 1): RpcHandler {
  const rand = mulberry32(seed);
  return async (method, req, ctx) => {
    arrivals.set(ctx, performance.now());
    stats.arrivals++;
    stats.inFlight++;
    try {
      const f = fault();
      if (f.mode === 'hang') {
        await new Promise<never>((_, reject) => {
          if (ctx.signal.aborted) reject(ctx.signal.reason);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        });
      }
      if ((f.latencyMs ?? 0) > 0) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, f.latencyMs);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason)), { once: true });
        });
      }
      if ((f.errorRate ?? 0) > 0 && rand() < f.errorRate!) {
        throw new RpcError(f.errorCode ?? 'UNAVAILABLE', `injected fault (${f.errorCode ?? 'UNAVAILABLE'}, rate ${f.errorRate})`);
      }
      const out = await handler(method, req, ctx);
      stats.ok++;
      return out;
    } catch (err) {
      stats.failed++;
      throw err;
    } finally {
      stats.inFlight--;
    }
  };
}

/** The shard's own work: `search` answers a few fake hits for `q`. */
export function shardHandler(name: string): RpcHandler {
  return async (method, req) => {
    if (method !== 'search') throw new RpcError('NOT_FOUND', `no method ${method}`);
    const q = String((req as { q?: unknown }).q ?? '');
    return { shard: name, q, hits: [0, 1, 2].map((i) => ({ id: `${name}:${q.length}:${i}`, score: 1 / (i + 1) })) };
  };
}

/** Sends every call on to the http-rpc service at `url`, with what is left of the call's budget (a proxy). */
export function forwardHandler(url: string, secret?: string): RpcHandler {
  const client = httpRpcClient(url, { secret, connections: 64 });
  return async (method, req, ctx) => {
    const left = ctx.deadlineMs === undefined ? undefined : ctx.deadlineMs - (performance.now() - (arrivals.get(ctx) ?? performance.now()));
    return client.call(method, req, { signal: ctx.signal, ...(left !== undefined ? { deadlineMs: Math.max(1, left) } : {}) });
  };
}

/** When each call arrived (before its injected latency), for `forwardHandler`'s budget. */
const arrivals = new WeakMap<object, number>();

// ---------------------------------------------------------------------------------------------------------------------
// Parent side

export interface FaultyUpstream {
  /** http://127.0.0.1:<port> (the same port across a 'refuse' and back). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  setFault(fault: Fault): Promise<void>;
  stats(): Promise<UpstreamStats>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. Safe to call twice. */
  close(): Promise<void>;
}

type Control = { t: 'fault'; fault: Fault } | { t: 'stats' };
type ToChild = Control & { id: number };
type FromChild = { t: 'ready'; port: number } | { t: 'ack'; id: number; stats: UpstreamStats } | { t: 'error'; id: number; message: string };

const FILE = fileURLToPath(import.meta.url);

export async function startFaultyUpstream(
  opts: { name?: string; seed?: number; secret?: string; readyTimeoutMs?: number; /** Proxy to this http-rpc service instead of fake hits. */ forwardTo?: string } = {},
): Promise<FaultyUpstream> {
  const child = spawn(process.execPath, ['--import', 'tsx', FILE], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      FAULTY_UPSTREAM_CHILD: '1',
      FAULTY_NAME: opts.name ?? 'shard',
      FAULTY_SEED: String(opts.seed ?? 1),
      ...(opts.secret !== undefined ? { RAG_INTERNAL_TOKEN: opts.secret } : {}),
      ...(opts.forwardTo !== undefined ? { FAULTY_FORWARD_TO: opts.forwardTo } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiting = new Map<number, { resolve: (s: UpstreamStats) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  child.on('message', (m: FromChild) => {
    if (m.t === 'ack') waiting.get(m.id)?.resolve(m.stats);
    else if (m.t === 'error') waiting.get(m.id)?.reject(new Error(`faulty upstream: ${m.message}`));
    if (m.t !== 'ready') waiting.delete(m.id);
  });
  exited.then(() => {
    for (const w of waiting.values()) w.reject(new Error(`faulty upstream exited\n${stderr.trim()}`));
    waiting.clear();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`faulty upstream not ready after ${opts.readyTimeoutMs ?? 60_000} ms\n${stderr}`));
    }, opts.readyTimeoutMs ?? 60_000);
    child.on('message', (m: FromChild) => {
      if (m.t === 'ready') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`faulty upstream exited before it was ready:\n${stderr.trim()}`));
    });
  });
  const ask = (msg: Control): Promise<UpstreamStats> =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error('faulty upstream is gone'));
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      child.send({ ...msg, id } as ToChild);
    });
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    setFault: async (fault) => void (await ask({ t: 'fault', fault })),
    stats: () => ask({ t: 'stats' }),
    close: () =>
      (closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Child side: started by startFaultyUpstream

async function runChild(): Promise<void> {
  const name = process.env.FAULTY_NAME ?? 'shard';
  const secret = process.env.RAG_INTERNAL_TOKEN || undefined;
  let fault: Fault = {};
  const stats: UpstreamStats = { arrivals: 0, ok: 0, failed: 0, inFlight: 0 };
  const forwardTo = process.env.FAULTY_FORWARD_TO || undefined;
  const handler = faultyHandler(forwardTo ? forwardHandler(forwardTo, secret) : shardHandler(name), () => fault, stats, Number(process.env.FAULTY_SEED ?? 1));
  let server: HttpRpcServer | undefined = await serveHttpRpc(handler, { secret });
  const port = server.port;
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = s.close();
    s.server.closeAllConnections(); // connection refused, and callers on kept-alive connections see a reset
    await closed;
  };
  process.on('message', (m: ToChild) => {
    void (async () => {
      try {
        if (m.t === 'fault') {
          fault = { ...m.fault };
          if (fault.mode === 'refuse') await down();
          else if (!server) server = await serveHttpRpc(handler, { secret, port });
        }
        process.send?.({ t: 'ack', id: m.id, stats: { ...stats } } satisfies FromChild);
      } catch (err) {
        process.send?.({ t: 'error', id: m.id, message: (err as Error).message } satisfies FromChild);
      }
    })();
  });
  const stop = () => {
    void down().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.send?.({ t: 'ready', port } satisfies FromChild);
}

if (process.env.FAULTY_UPSTREAM_CHILD === '1' && process.argv[1] !== undefined && path.resolve(process.argv[1]) === FILE) {
  runChild().catch((err: unknown) => {
    process.stderr.write(`faulty upstream failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
