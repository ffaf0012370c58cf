/**
 * The shard as a service in a process of its own (what the gateway calls across a process boundary): it builds its
 * part of the index (search.ts's `buildShard`) and serves the same `shardHandler` on every transport at once:
 *
 *   HTTP/JSON      serveHttpRpc (http-rpc.ts)
 *   gRPC           one server per codec module (after.ts's protobuf codec, the learner's exercise.ts, …), and one
 *                  with no codec at all (JSON bytes on grpc-rpc.ts's generic path)
 *   NATS           serveNatsRpc on a subject of its own, protobuf (after.ts's codec), when a NATS server answers
 *
 * Started with `startShardProcess` (fork + tsx); it answers over IPC with its endpoints and the search requests the
 * gateway would send (built from the same collection statistics), and stops on SIGTERM or when the parent goes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serveGrpcRpc, type MethodCodec } from '../../shared/services/grpc-rpc.ts';
import { serveHttpRpc } from '../../shared/services/http-rpc.ts';
import { natsSkipReason, serveNatsRpc } from '../../shared/services/nats-rpc.ts';
import { buildShard, SEARCH, shardHandler, type ShardSearchRequest } from './search.ts';

export interface ShardProcessOptions {
  chunks: number;
  queries: number;
  k: number;
  secret: string;
  /** gRPC servers to start: name → a module exporting `searchCodec` (absolute path). */
  codecModules: Record<string, string>;
  /** Serve on NATS too (with after.ts's codec) when a server answers. */
  nats: boolean;
}

export interface ShardProcess {
  http: string;
  /** gRPC address per codec module name, and `json` for the server without a codec. */
  grpc: Record<string, string>;
  /** The NATS subject prefix, or why NATS is not served. */
  nats: { subject: string } | { skip: string };
  requests: ShardSearchRequest[];
  queryTexts: string[];
  held: number;
  total: number;
  buildMs: number;
  pid: number;
  stop(): Promise<void>;
}

type Ready = Omit<ShardProcess, 'stop' | 'pid'>;

const SELF = fileURLToPath(import.meta.url);

/** Forks the shard process and resolves once it serves (or rejects with its error). */
export async function startShardProcess(opts: ShardProcessOptions, log: (m: string) => void = () => {}): Promise<ShardProcess> {
  const child: ChildProcess = fork(SELF, ['--serve-shard'], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.on('message', (m: { type: string; ready?: Ready; error?: string; log?: string }) => {
      if (m.type === 'log' && m.log) log(m.log);
      else if (m.type === 'ready' && m.ready) resolve(m.ready);
      else if (m.type === 'error') reject(new Error(`shard process: ${m.error}`));
    });
    child.once('exit', (code) => reject(new Error(`shard process exited (${code}) before it served`)));
    child.send({ type: 'start', opts });
  });
  return {
    ...ready,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function serve(opts: ShardProcessOptions): Promise<void> {
  const send = (m: object) => process.send?.(m);
  const t0 = performance.now();
  const w = await buildShard({ chunks: opts.chunks, queries: opts.queries, k: opts.k, log: (m) => send({ type: 'log', log: `shard: ${m}` }) });
  const buildMs = performance.now() - t0;
  const handler = shardHandler(w.shard);
  const closers: (() => Promise<void>)[] = [];
  const http = await serveHttpRpc(handler, { secret: opts.secret });
  closers.push(() => http.close());
  const grpc: Record<string, string> = {};
  const codecs: Record<string, MethodCodec<any, any>> = {};
  for (const [name, file] of Object.entries(opts.codecModules)) {
    codecs[name] = ((await import(pathToFileURL(file).href)) as { searchCodec: MethodCodec<any, any> }).searchCodec;
    const s = await serveGrpcRpc(handler, { secret: opts.secret, codecs: { [SEARCH]: codecs[name] } });
    grpc[name] = s.address;
    closers.push(() => s.close());
  }
  const plain = await serveGrpcRpc(handler, { secret: opts.secret });
  grpc.json = plain.address;
  closers.push(() => plain.close());
  let nats: Ready['nats'] = { skip: 'not asked for' };
  if (opts.nats) {
    const skip = await natsSkipReason();
    if (skip) nats = { skip };
    else {
      const subject = `lab.t4-02.${randomBytes(4).toString('hex')}`;
      const after = ((await import(new URL('./after.ts', import.meta.url).href)) as { searchCodec: MethodCodec<any, any> }).searchCodec;
      const s = await serveNatsRpc(handler, { subject, secret: opts.secret, codecs: { [SEARCH]: after } });
      closers.push(() => s.close());
      nats = { subject };
    }
  }
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    const t = setTimeout(() => process.exit(0), 2_000);
    for (const c of closers.reverse()) await c().catch(() => undefined);
    clearTimeout(t);
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('disconnect', shutdown);
  const ready: Ready = { http: http.url, grpc, nats, requests: w.requests, queryTexts: w.queryTexts, held: w.held, total: w.total, buildMs };
  send({ type: 'ready', ready });
}

if (process.argv.includes('--serve-shard') && process.send) {
  process.once('message', (m: { type: string; opts: ShardProcessOptions }) => {
    if (m.type === 'start') serve(m.opts).catch((err: Error) => {
      process.send?.({ type: 'error', error: err.stack ?? err.message });
      process.exit(1);
    });
  });
}
