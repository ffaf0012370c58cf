/**
 * The gateway: the public search API of the split engine. A query comes in over HTTP (keys and rate limits checked as
 * the monolith checks them, shared/serve/access.ts); the gateway analyses it, has the embedder service embed it,
 * sends it to every retriever shard at once with a per-shard deadline, merges the shards' lists by score and fuses
 * BM25 with dense as the engine does (shared/engine.ts `query`). On a full set of shards the hits equal the
 * monolith's for the same index (gateway.test.ts checks it).
 *
 *     POST /v1/query {query, k?, mode?}  → {hits, timings, partial, missingShards}     open or read (keys as `serve`)
 *     GET  /healthz                      the process is up
 *     GET  /readyz                       200 once the collection statistics are known (every shard answered once)
 *
 * **A missing shard is not an error.** A shard that is down, refuses, fails or does not answer within
 * `shardDeadlineMs` is left out: the answer is what the others hold, with `partial: true` and `missingShards: [i]`
 * (never a 5xx, and never a wait past the deadline for a shard that will not answer). A client that needs the whole
 * collection reads the flag and asks again. The embedder is not optional: without a query vector a hybrid or dense
 * query is answered 503 (a bm25 query does not need it).
 *
 * Every call to a service carries the service credential (`x-internal-token`, http-rpc.ts); the services listen on
 * 127.0.0.1 only and answer nothing without it except /healthz and /readyz.
 *
 * What the split leaves out for now: metadata filters (400), answers (`answer` is accepted and ignored: no answer is
 * built), the results cache, and writes (the ingest worker, t4's JetStream lessons).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { DEFAULT_FUSION, type Hit, type RetrievalMode } from '../engine.ts';
import { isZeroVector } from '../embed/sif.ts';
import { RagError } from '../errors.ts';
import { collectionStats, mergeTopK, queryStats, type CollectionStats } from '../index/sharded.ts';
import { fuse, type FusionOptions } from '../retrieve/fusion.ts';
import { registerAccess, type AuthOptions, type RateLimitOptions } from '../serve/access.ts';
import { errorBody, formatValidation, frameworkErrors, HttpError, httpStatusOf } from '../serve/http-errors.ts';
import { queryBody } from '../serve/schemas.ts';
import { createAnalyzer } from '../text/analyzer.ts';
import type { ScoredLabel } from '../types.ts';
import type { EmbedReply } from './embedder-service.ts';
import { httpRpcClient } from './http-rpc.ts';
import { isRpcError, RpcError, type RpcClient } from './rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest, ShardStatsReply } from './shard-service.ts';
import { flag, serviceMain } from './shard-service.ts';

// ---------------------------------------------------------------------------------------------------------------
// The fan-out (the decision lesson t4/00 has the learner write)

/** A query as the shards need it: analysed terms and the query vector (either may be absent). */
export interface ShardQueryInput {
  tokens?: readonly string[];
  vector?: Float32Array;
}

export interface FanOutOptions {
  /** How many hits each list keeps (every shard is asked for all of them). */
  k: number;
  /** The collection's statistics (all shards summed): every shard scores BM25 with them. */
  stats: CollectionStats;
  /** How long to wait for each shard, ms: a shard not answered by then is left out. */
  deadlineMs: number;
  /** The caller gave up: stop waiting. */
  signal?: AbortSignal;
}

export interface FanOutResult {
  /** The k best of all shards' answers, by score (ties: lower label). */
  text: ScoredLabel[];
  dense: ScoredLabel[];
  /** The chunk of every label in the lists. */
  chunks: Map<number, ChunkView>;
  /** Shards (by index in `shards`) that did not answer: the lists hold only what the others hold. */
  missingShards: number[];
  /** Why each missing shard is missing (same order), for logs. */
  errors: string[];
}

/**
 * Sends the query to every shard at once, each with its own deadline, and merges what came back by score. A shard
 * that fails or runs out of time is listed in `missingShards`; it never fails the whole search.
 */
export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) {
    req.tokens = [...query.tokens];
    req.stats = { docs: opts.stats.docs, totalLength: opts.stats.totalLength, df: [...queryStats(opts.stats, query.tokens).df] };
  }
  if (query.vector) req.vector = Array.from(query.vector);
  const settled = await Promise.allSettled(
    shards.map((s) => s.call<ShardSearchReply>('search', req, { deadlineMs: opts.deadlineMs, signal: opts.signal })),
  );
  const texts: ScoredLabel[][] = [];
  const denses: ScoredLabel[][] = [];
  const chunks = new Map<number, ChunkView>();
  const missingShards: number[] = [];
  const errors: string[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'rejected') {
      missingShards.push(i);
      errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
      return;
    }
    texts.push(r.value.text);
    denses.push(r.value.dense);
    for (const [label, c] of Object.entries(r.value.chunks)) chunks.set(Number(label), c);
  });
  return { text: mergeTopK(texts, opts.k), dense: mergeTopK(denses, opts.k), chunks, missingShards, errors };
}

/** The collection's statistics from every shard's own (`stats`); rejects when a shard does not answer. */
export async function fetchCollectionStats(shards: readonly RpcClient[], deadlineMs = 10_000): Promise<CollectionStats> {
  const replies = await Promise.all(shards.map((s) => s.call<ShardStatsReply>('stats', {}, { deadlineMs })));
  replies.forEach((r, i) => {
    if (r.shard !== i || r.shards !== shards.length) {
      throw new RagError('INVALID_INPUT', `shard client ${i} (${shards[i].target}) holds shard ${r.shard} of ${r.shards}, expected ${i} of ${shards.length}`);
    }
  });
  return collectionStats(replies.map((r) => ({ docs: r.docs, totalLength: r.totalLength, terms: r.terms, df: Int32Array.from(r.df) })));
}

// ---------------------------------------------------------------------------------------------------------------
// The gateway's search

export interface GatewayOptions {
  /** One client per shard, shard i at index i. */
  shards: RpcClient[];
  embedder: RpcClient;
  /** Per-shard deadline of a search, ms. Default 1000 (the monolith's whole-query deadline). */
  shardDeadlineMs?: number;
  /** Deadline of the embed call, ms. Default 1000. */
  embedDeadlineMs?: number;
  /** Candidates per retriever before hybrid fusion. Default 20, the engine's. */
  candidates?: number;
  /** Default the engine's DEFAULT_FUSION. */
  fusion?: FusionOptions;
  /** Called with the reason when a shard is left out of an answer. */
  onMissing?: (shard: number, reason: string) => void;
  /** The fan-out; default `searchShards` (a lesson swaps in the learner's). */
  fanOut?: typeof searchShards;
}

export interface GatewaySearchOptions {
  k?: number;
  mode?: RetrievalMode;
  signal?: AbortSignal;
}

export interface GatewayResult {
  hits: Hit[];
  /** True when a shard is missing from these hits. */
  partial: boolean;
  missingShards: number[];
  timings: { analyze?: number; embed?: number; fanout: number; fuse?: number; total: number };
}

export class Gateway {
  private stats: CollectionStats | undefined;
  private readonly analyzer = createAnalyzer();
  private readonly fusion: Required<FusionOptions>;
  readonly shardDeadlineMs: number;
  private readonly embedDeadlineMs: number;
  private readonly candidates: number;

  constructor(readonly opts: GatewayOptions) {
    this.fusion = { ...DEFAULT_FUSION, ...opts.fusion } as Required<FusionOptions>;
    this.shardDeadlineMs = opts.shardDeadlineMs ?? 1000;
    this.embedDeadlineMs = opts.embedDeadlineMs ?? 1000;
    this.candidates = opts.candidates ?? 20;
  }

  /** True once the collection statistics are known. */
  get ready(): boolean {
    return this.stats !== undefined;
  }

  /** Asks every shard for its statistics (once at start; every shard must answer). */
  async init(): Promise<void> {
    this.stats = await fetchCollectionStats(this.opts.shards);
  }

  /** `init`, again every `everyMs` until it succeeds (shards still loading). */
  async initWhenReady(everyMs = 200, signal?: AbortSignal): Promise<void> {
    for (;;) {
      try {
        return await this.init();
      } catch (err) {
        if (signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    }
  }

  async search(text: string, opts: GatewaySearchOptions = {}): Promise<GatewayResult> {
    const t0 = performance.now();
    if (!this.stats) throw new RpcError('UNAVAILABLE', 'the gateway has not heard from every shard yet');
    if (typeof text !== 'string' || text.trim() === '') throw new RagError('INVALID_INPUT', 'query must be a non-empty string');
    const k = opts.k ?? 10;
    const mode = opts.mode ?? 'hybrid';
    const timings: GatewayResult['timings'] = { fanout: 0, total: 0 };
    const query: ShardQueryInput = {};
    if (mode !== 'dense') {
      const t = performance.now();
      query.tokens = this.analyzer.analyze(text);
      timings.analyze = performance.now() - t;
    }
    if (mode !== 'bm25') {
      const t = performance.now();
      const { vectors } = await this.opts.embedder.call<EmbedReply>('embed', { texts: [text] }, { deadlineMs: this.embedDeadlineMs, signal: opts.signal });
      const v = Float32Array.from(vectors[0]);
      if (!isZeroVector(v)) query.vector = v;
      timings.embed = performance.now() - t;
    }
    const depth = Math.max(k, mode === 'hybrid' ? this.candidates : k);
    let t = performance.now();
    const r = await (this.opts.fanOut ?? searchShards)(this.opts.shards, query, { k: depth, stats: this.stats, deadlineMs: this.shardDeadlineMs, signal: opts.signal });
    timings.fanout = performance.now() - t;
    r.missingShards.forEach((s, i) => this.opts.onMissing?.(s, r.errors[i]));
    const hit = (label: number, score: number, rank: number, scores: Hit['scores']): Hit => {
      const c = r.chunks.get(label);
      if (!c) throw new RagError('CORRUPT', `a shard returned label ${label} without its chunk`);
      return { rank: rank + 1, chunkId: c.chunkId, docId: c.docId, score, scores, ...(c.title !== undefined ? { title: c.title } : {}), text: c.text, position: c.position, metadata: c.metadata };
    };
    let hits: Hit[];
    if (mode === 'hybrid') {
      t = performance.now();
      hits = fuse([r.text, r.dense], this.fusion).slice(0, k).map((f, i) => hit(f.label, f.score, i, { bm25: f.sources[0], dense: f.sources[1] }));
      timings.fuse = performance.now() - t;
    } else {
      const list = (mode === 'bm25' ? r.text : r.dense).slice(0, k);
      hits = list.map((h, i) => hit(h.label, h.score, i, mode === 'bm25' ? { bm25: h.score } : { dense: h.score }));
    }
    timings.total = performance.now() - t0;
    return { hits, partial: r.missingShards.length > 0, missingShards: r.missingShards, timings };
  }

  async close(): Promise<void> {
    await Promise.all([...this.opts.shards, this.opts.embedder].map((c) => c.close()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface GatewayServerOptions {
  /** API keys, as `serve`'s (access.ts). `false`: every route open (tests, development on loopback). */
  auth: AuthOptions | false;
  rateLimit?: RateLimitOptions;
  /** Default 1 MiB. */
  bodyLimit?: number;
  /** Pino level; default env LOG_LEVEL or 'warn'. */
  logLevel?: string;
}

interface QueryBody {
  query: string;
  k?: number;
  mode?: RetrievalMode;
  filter?: unknown;
  answer?: boolean;
}

/** The gateway's Fastify app (not listening yet). */
export async function createGatewayApp(gateway: Gateway, opts: GatewayServerOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const app = Fastify({
    logger: { level: opts.logLevel ?? process.env.LOG_LEVEL ?? 'warn' },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, dataVar) => formatValidation(errors as never, dataVar),
  }) as unknown as FastifyInstance;
  const access = await registerAccess(app, opts.auth, opts.rateLimit);
  app.addHook('onClose', async () => access.close());
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (isRpcError(err)) {
      // a service the gateway cannot do without (the embedder) failed: 503, or 504 when it ran out of time
      const status = err.code === 'DEADLINE_EXCEEDED' ? 504 : err.code === 'INVALID_ARGUMENT' ? 400 : 503;
      if (status === 503) reply.header('retry-after', '1');
      return reply.code(status).send(errorBody(status, err.message));
    }
    const { status, message } = httpStatusOf(err, bodyLimit);
    if (status >= 500) request.log.error({ err, url: request.url }, 'request failed');
    if (err instanceof HttpError) reply.headers(err.headers);
    return reply.code(status).send(errorBody(status, status === 500 ? 'internal error' : message));
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => reply.code(gateway.ready ? 200 : 503).send({ ready: gateway.ready }));
  app.post(
    '/v1/query',
    { config: { access: 'read', budget: 'read' }, schema: { body: queryBody } },
    async (request) => {
      const body = request.body as QueryBody;
      if (body.filter !== undefined) throw new HttpError(400, 'body.filter: metadata filters are not supported by the split services yet (use npm run serve)');
      if (!gateway.ready) throw new RpcError('UNAVAILABLE', 'not ready: the gateway has not heard from every shard yet');
      const ac = new AbortController();
      request.raw.once('close', () => {
        if (!request.raw.complete) ac.abort();
      });
      return gateway.search(body.query, { k: body.k, mode: body.mode, signal: ac.signal });
    },
  );
  return app;
}

/** What the gateway process reads from its environment (the supervisor sets it). */
export interface GatewayEnv {
  shardUrls: string[];
  embedderUrl: string;
  secret: string | undefined;
  server: GatewayServerOptions;
  shardDeadlineMs?: number;
  /** A module exporting `searchShards` to use instead of the engine's (lesson t4/00 measures the learner's). */
  fanOutModule?: string;
}

/** Starts the gateway: clients to the services, statistics from the shards, the HTTP server on `port`. */
export async function startGateway(env: GatewayEnv, port: number, host = '127.0.0.1'): Promise<{ url: string; gateway: Gateway; close(): Promise<void> }> {
  const client = (url: string) => httpRpcClient(url, { secret: env.secret, connections: 32 });
  // one line per shard per second at most: a dead shard under load would otherwise log every query
  const lastLogged = new Map<number, { at: number; since: number }>();
  const onMissing = (s: number, why: string) => {
    const l = lastLogged.get(s) ?? { at: 0, since: 0 };
    l.since++;
    if (Date.now() - l.at >= 1000) {
      process.stderr.write(`gateway: shard ${s} left out of ${l.since} answer(s) (flagged partial): ${why}\n`);
      l.at = Date.now();
      l.since = 0;
    }
    lastLogged.set(s, l);
  };
  const fanOut = env.fanOutModule ? ((await import(pathToFileURL(env.fanOutModule).href)) as { searchShards: typeof searchShards }).searchShards : undefined;
  const gateway = new Gateway({ shards: env.shardUrls.map(client), embedder: client(env.embedderUrl), shardDeadlineMs: env.shardDeadlineMs, onMissing, fanOut });
  const ac = new AbortController();
  const initialised = gateway.initWhenReady(200, ac.signal).catch(() => {});
  const app = await createGatewayApp(gateway, env.server);
  await app.listen({ port, host });
  void initialised; // ready (GET /readyz 200) once every shard has answered `stats`
  const addr = app.server.address() as { port: number };
  return {
    url: `http://${host}:${addr.port}`,
    gateway,
    close: async () => {
      ac.abort();
      await app.close();
      await gateway.close();
    },
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const env: GatewayEnv = {
    shardUrls: (process.env.RAG_SHARD_URLS ?? '').split(',').filter(Boolean),
    embedderUrl: process.env.RAG_EMBEDDER_URL ?? '',
    secret: process.env.RAG_INTERNAL_TOKEN,
    server: JSON.parse(process.env.RAG_GATEWAY_SERVER ?? '{"auth":false}') as GatewayServerOptions,
    shardDeadlineMs: process.env.RAG_SHARD_DEADLINE_MS ? Number(process.env.RAG_SHARD_DEADLINE_MS) : undefined,
    fanOutModule: process.env.RAG_GATEWAY_FANOUT || undefined,
  };
  serviceMain('gateway', () => startGateway(env, Number(flag('port', '0')), flag('host', '127.0.0.1')));
}
