/**
 * A retriever shard as a service: shard i of N of a saved index (partitioned by `shardOf`, as in
 * shared/index/sharded.ts) behind an HTTP RPC server (http-rpc.ts) in its own process. It is `ShardWorker`'s logic
 * with a network hop in place of a message port: the gateway (gateway.ts) fans a query out to every shard and merges.
 *
 * Methods (POST /rpc/<method>, `x-internal-token` required):
 *
 *     stats  {}  → {shard, shards, docs, totalLength, terms, df}     its own BM25 statistics (for `collectionStats`)
 *     search {k, tokens?, stats?, vector?} → {text, dense, chunks}   its own top k by BM25 (scored with the given
 *                                                                    collection statistics) and by exact cosine,
 *                                                                    and the chunks those labels hold
 *     has    {ids} → {present: boolean[], version}                   which of the documents it holds a chunk of
 *
 * `stats` and `search` replies carry `version`: the write-log version (stream sequence) the shard had applied when
 * it answered (0 = the saved index as loaded).
 *
 * Writes: with `nats` (flags `--log <name> [--nats <url>] [--replica-id <id>]`) the shard is a `JetStreamReplica` of the index's write log
 * (jetstream-log.ts): it applies every op of the stream in order (shard-writes.ts), from its snapshot's version + 1
 * (the saved index it loads: version 0, so a restarted shard replays the whole stream), and listens (is reachable,
 * so ready) only once it has caught up to the end of the stream as it was when it started: a restarted shard never
 * answers from an older state than the one it was killed in.
 *
 * `stats.df` in a search is a list of `[term, df]` pairs (a Map does not survive JSON). Vectors and scores cross as
 * JSON numbers: a float32 widened to a double prints and parses back to the same double, so nothing is rounded.
 *
 * The shard is built from the same saved index the monolith serves (`npm run index`): it loads the engine, keeps the
 * chunks of its labels (their postings, vectors and text) and lets the rest go. The index must hold exact vectors
 * (`vector.kind: 'flat'`): an approximate graph split into N graphs does not return what one graph returns, and the
 * split's answers are checked against the monolith's.
 *
 * Run as a process (the supervisor does this): `node --import tsx shared/services/shard-service.ts --index <dir>
 * --shard 0 --shards 2 [--port P]`, the secret in env RAG_INTERNAL_TOKEN. It tells a parent that forked it where it
 * listens (`{type: 'listening', url}` over IPC) and exits when that parent goes away.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine, type Engine } from '../engine.ts';
import { RagError } from '../errors.ts';
import { indexText } from '../corpus/chunk.ts';
import { Bm25Shard, shardOf, type QueryStats } from '../index/sharded.ts';
import { FlatIndex } from '../index/flat.ts';
import { createAnalyzer } from '../text/analyzer.ts';
import type { Chunk, Metadata, ScoredLabel } from '../types.ts';
import { createServiceMetrics } from '../observe/service-metrics.ts';
import { initTracingFromEnv, shutdownTracing } from '../observe/tracing.ts';
import { serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { connectNats, JetStreamReplica, logNames } from './jetstream-log.ts';
import { RpcError, type RpcHandler } from './rpc.ts';
import { applySplitOp, writablePart, type SplitWriteOp, type WritablePart } from './shard-writes.ts';
import { jetstreamManager } from '@nats-io/jetstream';

/** What a hit shows of its chunk (the monolith's `Hit` without rank and scores). */
export interface ChunkView {
  chunkId: string;
  docId: string;
  title?: string;
  text: string;
  position: number;
  metadata: Metadata;
}

/** One shard's part of the collection, in memory. */
export interface ShardPart {
  shard: number;
  shards: number;
  bm25: Bm25Shard;
  vectors: FlatIndex;
  chunks: Map<number, ChunkView>;
}

/** The wire form of `ShardTermStats` (typed arrays become plain arrays). */
export interface ShardStatsReply {
  shard: number;
  shards: number;
  docs: number;
  totalLength: number;
  terms: string[];
  df: number[];
  /** The write-log version the statistics are of (absent: a shard that takes no writes). */
  version?: number;
}

export interface ShardSearchRequest {
  k: number;
  tokens?: string[];
  /** The collection's statistics of the query's terms: `df` as `[term, df]` pairs. */
  stats?: { docs: number; totalLength: number; df: [string, number][] };
  vector?: number[];
}

export interface ShardSearchReply {
  text: ScoredLabel[];
  dense: ScoredLabel[];
  /** The chunk of every label in `text` and `dense`. */
  chunks: Record<string, ChunkView>;
  /** The write-log version the answer is of (absent: a shard that takes no writes). */
  version?: number;
}

export function chunkView(c: Chunk): ChunkView {
  return { chunkId: c.id, docId: c.docId, ...(c.title !== undefined ? { title: c.title } : {}), text: c.text, position: c.position, metadata: c.metadata };
}

/**
 * Shard `shard` of `shards` of an engine's collection: the labels `shardOf` gives it, their BM25 postings (analysed
 * as the engine analyses them), their vectors (the engine's exact index) and their chunks.
 */
export function partFromEngine(engine: Engine, shard: number, shards: number): ShardPart {
  if (!Number.isInteger(shards) || shards <= 0) throw new RagError('INVALID_INPUT', `shards must be a positive integer, got ${shards}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) throw new RagError('INVALID_INPUT', `shard must be in [0, ${shards - 1}], got ${shard}`);
  const all = engine.vectors;
  if (!(all instanceof FlatIndex)) {
    throw new RagError(
      'INVALID_INPUT',
      `a shard service needs an index with exact vectors (vector kind 'flat'), this one holds '${all.kind}': build it with npm run index -- --vector flat`,
    );
  }
  const analyzer = createAnalyzer();
  const labels = all.labels().filter((l) => shardOf(l, shards) === shard).sort((a, b) => a - b);
  const tokens: string[][] = [];
  const chunks = new Map<number, ChunkView>();
  const vectors = new FlatIndex({ dim: all.dim, initialCapacity: Math.max(1, labels.length) });
  const rows: Float32Array[] = [];
  for (const l of labels) {
    const c = engine.chunk(l);
    if (!c) throw new RagError('CORRUPT', `label ${l} has a vector but no chunk`);
    tokens.push(analyzer.analyze(indexText(c)));
    chunks.set(l, chunkView(c));
    rows.push(Float32Array.from(all.vector(l)!));
  }
  vectors.add(labels, rows);
  return { shard, shards, bm25: Bm25Shard.build(labels, tokens, engine.config.bm25), vectors, chunks };
}

function statsOf(req: ShardSearchRequest['stats']): QueryStats | undefined {
  if (req === undefined) return undefined;
  if (typeof req !== 'object' || !Array.isArray(req.df)) throw new RpcError('INVALID_ARGUMENT', 'stats.df must be a list of [term, df] pairs');
  return { docs: req.docs, totalLength: req.totalLength, df: new Map(req.df) };
}

/** The shard's methods over one part (also served in-process by lessons and tests). */
export function shardHandler(part: ShardPart): RpcHandler {
  const versioned = (part as Partial<WritablePart>).docs !== undefined ? (part as WritablePart) : undefined;
  return async (method, body) => {
    if (method === 'stats') {
      const s = part.bm25.termStats();
      const reply: ShardStatsReply = { shard: part.shard, shards: part.shards, docs: s.docs, totalLength: s.totalLength, terms: s.terms, df: Array.from(s.df) };
      if (versioned) reply.version = versioned.version;
      return reply;
    }
    if (method === 'has') {
      const ids = (body as { ids?: unknown } | null)?.ids;
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw new RpcError('INVALID_ARGUMENT', 'has needs {ids: string[]}');
      const docs = versioned?.docs ?? writablePart({ ...part }).docs;
      return { present: ids.map((id) => docs.has(id)), version: versioned?.version ?? 0 };
    }
    if (method === 'search') {
      const req = body as ShardSearchRequest;
      if (!req || typeof req !== 'object' || !Number.isInteger(req.k) || req.k <= 0) throw new RpcError('INVALID_ARGUMENT', 'search needs {k: positive integer}');
      const out: ShardSearchReply = { text: [], dense: [], chunks: {} };
      if (req.tokens && req.tokens.length > 0) out.text = part.bm25.search(req.tokens, req.k, statsOf(req.stats));
      if (req.vector) {
        if (!Array.isArray(req.vector) || req.vector.length !== part.vectors.dim) {
          throw new RpcError('INVALID_ARGUMENT', `vector must be ${part.vectors.dim} numbers`);
        }
        out.dense = part.vectors.search(Float32Array.from(req.vector), req.k);
      }
      for (const h of out.text) out.chunks[h.label] = part.chunks.get(h.label)!;
      for (const h of out.dense) out.chunks[h.label] = part.chunks.get(h.label)!;
      if (versioned) out.version = versioned.version;
      return out;
    }
    throw new RpcError('NOT_FOUND', `shard service has no method "${method}" (stats, search)`);
  };
}

export interface ShardServiceOptions {
  /** A saved index (exact vectors). */
  index: string;
  shard: number;
  shards: number;
  /** The service credential; default env RAG_INTERNAL_TOKEN. */
  secret?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /**
   * Take writes: follow the index's write log on NATS JetStream (`log`: its name, as the ingest worker's).
   * `replicaId` (default `shard-<i>-of-<n>`) names this process among the log's replicas: unique per process (two
   * copies of one shard: `shard-0.0`, `shard-0.1`) and the same after a restart (a killed replica keeps its
   * registration, and writes asked of 'all' wait for it until a process with its id is back and caught up).
   */
  nats?: { url?: string; log: string; replicaId?: string };
}

/** Loads the index, keeps shard `shard` of it, serves it. Ready (GET /readyz 200) once its part is built. */
export async function startShardService(opts: ShardServiceOptions): Promise<HttpRpcServer & { part: ShardPart; replica?: JetStreamReplica }> {
  const engine = await loadEngine(opts.index, { llm: null });
  const part = partFromEngine(engine, opts.shard, opts.shards);
  if (!opts.nats) {
    const server = await serveHttpRpc(shardHandler(part), { secret: opts.secret ?? process.env.RAG_INTERNAL_TOKEN, port: opts.port ?? 0, service: `shard-${opts.shard}`, metrics: createServiceMetrics('shard', { labels: { shard: String(opts.shard) } }).http });
    return Object.assign(server, { part });
  }
  const wpart = writablePart(part, 0);
  const nc = await connectNats(opts.nats.url);
  let replica: JetStreamReplica | undefined;
  try {
    const names = logNames(opts.nats.log);
    replica = await JetStreamReplica.start({
      nc,
      index: opts.nats.log,
      id: opts.nats.replicaId ?? `shard-${opts.shard}-of-${opts.shards}`,
      fromVersion: wpart.version,
      apply: async (version, op) => applySplitOp(wpart, version, op as unknown as SplitWriteOp),
      onError: (err) => process.stderr.write(`shard ${opts.shard}/${opts.shards}: stopped following the write log: ${err.message}\n`),
    });
    // caught up to the stream as it was at start before answering anything
    const last = (await (await jetstreamManager(nc)).streams.info(names.stream)).state.last_seq;
    await replica.waitFor(last);
    const server = await serveHttpRpc(shardHandler(wpart), { secret: opts.secret ?? process.env.RAG_INTERNAL_TOKEN, port: opts.port ?? 0, service: `shard-${opts.shard}`, metrics: createServiceMetrics('shard', { labels: { shard: String(opts.shard) } }).http });
    const r = replica;
    const closeServer = server.close.bind(server);
    return Object.assign(server, {
      part: wpart as ShardPart,
      replica,
      close: async () => {
        await closeServer();
        await r.stop().catch(() => {});
        await nc.close().catch(() => {});
      },
    });
  } catch (err) {
    await replica?.halt().catch(() => {});
    await nc.close().catch(() => {});
    throw err;
  }
}

/**
 * The process side shared by every service: argv flags, `listening` to the parent over IPC, exit with it.
 *
 * SIGTERM is a graceful shutdown (t4/14): `/readyz` answers 503 at once (`notReady`) while calls are still served
 * for `RAG_PRESTOP_MS` (default 0; a pod behind a balancer that polls readiness sets it above the balancer's
 * period × failure threshold, the in-process equivalent of a `preStop` sleep), then `close()` stops accepting, lets
 * in-flight calls finish and closes idle kept-alive connections; whatever is still open after `RAG_DRAIN_MS`
 * (default 2,000) is cut by the exit. SIGINT and a closed IPC channel (the supervisor gone) skip the wait.
 */
export function serviceMain(name: string, start: () => Promise<{ url: string; close(): Promise<void>; notReady?(): void }>): void {
  const envMs = (key: string, fallback: number) => {
    const v = Number(process.env[key] ?? fallback);
    return Number.isFinite(v) && v >= 0 ? v : fallback;
  };
  let stopping = false;
  const stop = (server: { close(): Promise<void>; notReady?(): void } | undefined, code: number, preStopMs = 0) => {
    const done = () => process.exit(code);
    if (!server) return done();
    if (stopping) return;
    stopping = true;
    server.notReady?.();
    setTimeout(() => {
      const t = setTimeout(done, envMs('RAG_DRAIN_MS', 2000));
      t.unref();
      server.close().then(shutdownTracing).then(done, done); // the last spans exported before the exit
    }, preStopMs);
  };
  // tracing from the environment (OTEL_*, shared/observe/tracing.ts): off when unset; a bad value fails the start
  initTracingFromEnv(`rag-${name.split(' ')[0]}`, name).then(start).then(
    (server) => {
      process.stderr.write(`${name}: listening on ${server.url}\n`);
      process.send?.({ type: 'listening', url: server.url });
      process.on('disconnect', () => stop(server, 0));
      process.on('SIGTERM', () => stop(server, 0, envMs('RAG_PRESTOP_MS', 0)));
      process.on('SIGINT', () => stop(server, 0));
    },
    (err: Error) => {
      process.stderr.write(`${name}: failed to start: ${err.message}\n`);
      process.exit(1);
    },
  );
}

/** `--name value` flags of a service process. */
export function flag(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    process.stderr.write(`error: --${name} is required\n`);
    process.exit(2);
  }
  return v;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const shard = Number(flag('shard'));
  const shards = Number(flag('shards'));
  serviceMain(`shard ${shard}/${shards}`, () =>
    startShardService({
      index: flag('index'),
      shard,
      shards,
      port: Number(flag('port', '0')),
      ...(flag('log', '') ? { nats: { log: flag('log'), url: flag('nats', '') || undefined, replicaId: flag('replica-id', '') || undefined } } : {}),
    }),
  );
}
