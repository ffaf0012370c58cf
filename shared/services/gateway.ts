/**
 * The gateway: the public search API of the split engine. A query comes in over HTTP (keys and rate limits checked as
 * the monolith checks them, shared/serve/access.ts); the gateway analyses it, has the embedder service embed it,
 * sends it to every retriever shard at once within the request's budget, merges the shards' lists by score and fuses
 * BM25 with dense as the engine does (shared/engine.ts `query`). On a full set of shards the hits equal the
 * monolith's for the same index (gateway.test.ts checks it).
 *
 *     POST /v1/query {query, k?, mode?}  → {hits, timings, partial, missingShards, degraded, budgetMs}   open or read
 *       header x-request-timeout-ms: the client's budget for the request (default 1000, cut to maxTimeoutMs 5000)
 *     GET  /healthz                      the process is up
 *     GET  /readyz                       200 once the collection statistics are known (every shard answered once)
 *
 * **A deadline, not a timeout per hop** (t4/08). The request's budget is one clock: every hop (the embedder, each
 * shard) is sent only what is left of it (`x-deadline-ms`, less `replyReserveMs` to merge and reply), so no service
 * works on a request its client has given up on, and the answer leaves before the client stops waiting.
 *
 * **Degrade, flagged, instead of failing.** Whatever is left out is said in `degraded`:
 * - a shard that is down, refuses, fails, does not answer in time or whose bulkhead is full is left out: the answer
 *   is what the others hold, `partial: true`, `missingShards: [i]`, `degraded: ['shards-missing']` (never a 5xx);
 * - an embedder that fails, is too slow for its share of the budget (`embedShare`) or whose bulkhead is full turns a
 *   hybrid or dense query into BM25 only: `degraded: ['bm25-only']` (it was a 503 before t4/08);
 * - nothing useful (no shard answered) and the budget spent: 504. Over `maxInFlight` requests at once: 503 +
 *   Retry-After at once (shed early, before any work). The split has no results cache, so there is no cached answer
 *   to serve instead.
 * **Bulkheads** (bulkhead.ts): each shard and the embedder have their own bound on calls in flight (`maxPerShard`,
 * `maxToEmbedder`, a short queue `maxQueue`); a slow shard fills its own and is left out at once, and the requests it
 * would have held keep flowing through the others.
 *
 * Every call to a service carries the service credential (`x-internal-token`, http-rpc.ts); the services listen on
 * 127.0.0.1 only and answer nothing without it except /healthz and /readyz.
 *
 * **Traced** when the environment asks for it (OTEL_EXPORTER_OTLP_ENDPOINT…, shared/observe/tracing.ts): a SERVER
 * span per /v1 request continuing the client's `traceparent`, `gateway.embed` and `gateway.fanout` under it, and a
 * CLIENT span per call to the embedder and each shard (http-rpc.ts), whose services continue the same trace.
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
import { registerFastifyMetrics } from '../observe/fastify-metrics.ts';
import { createServiceMetrics, watchGateway } from '../observe/service-metrics.ts';
import { withBulkhead } from './bulkhead.ts';
import { attachWrites } from './gateway-writes.ts';
import { httpRpcClient } from './http-rpc.ts';
import { ReplicaSet, type PickRule } from './replica-set.ts';
import { isRpcError, RpcError, type CallOptions, type RpcClient } from './rpc.ts';
import { BREAKER_DEFAULTS, withBreaker, type BreakerClient, type BreakerOptions } from './resilience.ts';
import { annotate, inRequestSpan, inSpan, traceRequests } from '../observe/tracing.ts';
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
// Retrieval within the request's budget (the decision lesson t4/08 has the learner write)

/** Why an answer is less than what was asked; empty when nothing was left out. */
export type DegradedReason =
  /** The embedder failed, was too slow for the budget or its bulkhead was full: BM25 only, no dense list. */
  | 'bm25-only'
  /** One or more shards are missing (`missingShards`): the hits are what the others hold. */
  | 'shards-missing';

export interface RetrieveRequest {
  /** The query as the client sent it (what the embedder embeds). */
  text: string;
  /** The query's analysed terms (always given: the BM25 fallback needs them even for a dense query). */
  tokens: readonly string[];
  mode: RetrievalMode;
  /** How many hits each list keeps. */
  k: number;
  stats: CollectionStats;
  /** When the client stops waiting, on `RetrieverOptions.now`'s clock: no hop may be sent past it or given more. */
  deadline: number;
  /** The client went away. */
  signal?: AbortSignal;
}

export interface Retrieved extends FanOutResult {
  /** The mode the lists were built for: the one asked, or 'bm25' after `bm25-only`. */
  mode: RetrievalMode;
  /** What was left out, if anything: set exactly when the answer is less than what was asked. */
  degraded: DegradedReason[];
  timings: { embed?: number; fanout: number };
}

export interface RetrieverOptions {
  /** The longest a shard call may take whatever the budget, ms. */
  shardDeadlineMs: number;
  /** The longest the embed call may take whatever the budget, ms. */
  embedDeadlineMs: number;
  /** The bulkhead of each shard: calls in flight to one shard at most. */
  maxPerShard: number;
  /** The embedder's bulkhead. */
  maxToEmbedder: number;
  /** Calls that may wait for a slot in a bulkhead (within their budget); more are refused at once. */
  maxQueue: number;
  /** The share of the remaining budget the embed call may use (the rest is the shards', so a slow embedder still
   *  leaves time for a BM25-only answer). */
  embedShare: number;
  /** Kept back from the budget to merge, fuse and reply, ms: the answer leaves before the client stops waiting. */
  replyReserveMs: number;
  /** Monotonic ms. */
  now: () => number;
  /** The fan-out (t4/00's `searchShards`). */
  fanOut: typeof searchShards;
}

/** What the gateway asks of its retrieval: the embedder and the shards, within a deadline. */
export interface Retriever {
  retrieve(req: RetrieveRequest): Promise<Retrieved>;
  close(): Promise<void>;
  /** The clients it calls, as wrapped (bulkheads, breakers), by target: what GET /metrics reads (t4/15). */
  upstreams?(): Array<{ target: string; client: unknown }>;
}

export type RetrieverFactory = (shards: readonly RpcClient[], embedder: RpcClient, opts: RetrieverOptions) => Retriever;

/** Has the embedder embed `text`: the query vector, or undefined when it is all zeros (no known word). */
export async function embedQuery(embedder: RpcClient, text: string, opts: CallOptions): Promise<Float32Array | undefined> {
  const { vectors } = await embedder.call<EmbedReply>('embed', { texts: [text] }, opts);
  const v = Float32Array.from(vectors[0]);
  return isZeroVector(v) ? undefined : v;
}

/**
 * The engine's retrieval: every hop gets the budget the client has left (less `replyReserveMs`), never a fixed
 * timeout of its own beyond it; each shard and the embedder sit behind their own bulkhead; an embedder that fails or
 * is too slow turns the answer into BM25 only, and missing shards into a partial answer, both flagged in `degraded`.
 */
/** The parts of `createRetriever` a variant may swap (lesson t4/08's wrong solutions change only this one). */
export interface RetrieverParts {
  /** What the fan-out calls for each shard; default: each shard behind its own bulkhead of `maxPerShard`. */
  shardHeads?: (shards: readonly RpcClient[], o: RetrieverOptions) => RpcClient[];
}

const bulkheadPerShard: NonNullable<RetrieverParts['shardHeads']> = (shards, o) =>
  shards.map((s) => withBulkhead(s, { maxConcurrent: o.maxPerShard, maxQueue: o.maxQueue, now: o.now }));

/** `createRetriever` with some of its parts swapped. */
export const retrieverWith = (parts: RetrieverParts = {}): RetrieverFactory => (shards, embedder, o) => {
  const shardHeads = (parts.shardHeads ?? bulkheadPerShard)(shards, o);
  const embedHead = withBulkhead(embedder, { maxConcurrent: o.maxToEmbedder, maxQueue: o.maxQueue, now: o.now });
  const left = (deadline: number) => deadline - o.replyReserveMs - o.now();
  return {
    async retrieve(req) {
      const degraded: DegradedReason[] = [];
      const timings: Retrieved['timings'] = { fanout: 0 };
      let mode = req.mode;
      const query: ShardQueryInput = {};
      if (mode !== 'bm25') {
        const t = o.now();
        const budget = Math.min(o.embedDeadlineMs, left(req.deadline) * o.embedShare);
        try {
          if (budget <= 0) throw new RpcError('DEADLINE_EXCEEDED', 'no budget left for the embedder');
          const v = await inSpan('gateway.embed', { 'rag.budget_ms': Math.floor(budget) }, () => embedQuery(embedHead, req.text, { deadlineMs: budget, signal: req.signal }));
          if (v) query.vector = v;
        } catch (err) {
          if (req.signal?.aborted || isRpcError(err, 'INVALID_ARGUMENT')) throw err;
          mode = 'bm25';
          degraded.push('bm25-only');
        }
        timings.embed = o.now() - t;
      }
      if (mode !== 'dense' && req.tokens.length > 0) query.tokens = req.tokens;
      const t = o.now();
      const budget = Math.min(o.shardDeadlineMs, left(req.deadline));
      let r: FanOutResult;
      if (budget <= 0) {
        const why = `no budget left for the shards (${Math.round(left(req.deadline) + o.replyReserveMs)} ms before the deadline)`;
        r = { text: [], dense: [], chunks: new Map(), missingShards: shards.map((_, i) => i), errors: shards.map(() => why) };
      } else {
        r = await inSpan('gateway.fanout', { 'rag.shards': shardHeads.length, 'rag.budget_ms': Math.floor(budget) }, async () => {
          const out = await o.fanOut(shardHeads, query, { k: req.k, stats: req.stats, deadlineMs: budget, signal: req.signal });
          if (out.missingShards.length > 0) annotate({ 'rag.missing_shards': out.missingShards });
          return out;
        });
      }
      timings.fanout = o.now() - t;
      if (r.missingShards.length > 0) degraded.push('shards-missing');
      return { ...r, mode, degraded, timings };
    },
    close: async () => {
      await Promise.all([...shards, embedder].map((c) => c.close()));
    },
    upstreams: () => [...shardHeads.map((client, i) => ({ target: `shard-${i}`, client })), { target: 'embedder', client: embedHead }],
  };
};

export const createRetriever: RetrieverFactory = retrieverWith();

// ---------------------------------------------------------------------------------------------------------------
// The gateway's search

export interface GatewayOptions {
  /** One client per shard, shard i at index i. */
  shards: RpcClient[];
  embedder: RpcClient;
  /** The longest a shard call may take, ms, whatever the request's budget. Default 1000. */
  shardDeadlineMs?: number;
  /** The longest the embed call may take, ms. Default 1000. */
  embedDeadlineMs?: number;
  /** A request's budget when the client gives none (`x-request-timeout-ms`), ms. Default 1000. */
  defaultTimeoutMs?: number;
  /** The largest budget a client may ask for, ms (a larger one is cut to it). Default 5000. */
  maxTimeoutMs?: number;
  /** Requests in the gateway at once at most; more are shed at once (503 + Retry-After). Default 256. */
  maxInFlight?: number;
  /** Each shard's bulkhead: calls in flight to one shard at most. Default 32. */
  maxPerShard?: number;
  /** The embedder's bulkhead. Default 32. */
  maxToEmbedder?: number;
  /** Calls that may wait for a bulkhead slot within their budget. Default 8. */
  maxQueue?: number;
  /** Share of the remaining budget the embed call may use. Default 0.5. */
  embedShare?: number;
  /** Kept back from the budget to merge and reply, ms. Default 50. */
  replyReserveMs?: number;
  /** Candidates per retriever before hybrid fusion. Default 20, the engine's. */
  candidates?: number;
  /** Default the engine's DEFAULT_FUSION. */
  fusion?: FusionOptions;
  /** Called with the reason when a shard is left out of an answer. */
  onMissing?: (shard: number, reason: string) => void;
  /** The fan-out; default `searchShards` (a lesson swaps in the learner's). */
  fanOut?: typeof searchShards;
  /** The retrieval; default `createRetriever` (t4/08 swaps in before's or the learner's). */
  retriever?: RetrieverFactory;
  /** Monotonic ms; default performance.now (a checkpoint injects a virtual clock). */
  now?: () => number;
}

export interface GatewaySearchOptions {
  k?: number;
  mode?: RetrievalMode;
  signal?: AbortSignal;
  /** The client's budget for the whole request, ms (cut to `maxTimeoutMs`; default `defaultTimeoutMs`). */
  timeoutMs?: number;
}

export interface GatewayResult {
  hits: Hit[];
  /** True when a shard is missing from these hits. */
  partial: boolean;
  missingShards: number[];
  /** What was left out of this answer (empty: nothing); see `DegradedReason`. */
  degraded: DegradedReason[];
  /** The budget the request was served within, ms. */
  budgetMs: number;
  timings: { analyze?: number; embed?: number; fanout: number; fuse?: number; total: number };
}

export class Gateway {
  private stats: CollectionStats | undefined;
  private readonly analyzer = createAnalyzer();
  private readonly fusion: Required<FusionOptions>;
  readonly shardDeadlineMs: number;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly maxInFlight: number;
  private readonly candidates: number;
  private readonly now: () => number;
  private readonly replyReserveMs: number;
  private readonly retriever: Retriever;
  /** Requests being served now, and how many were shed for it. */
  readonly load = { inFlight: 0, shed: 0 };

  constructor(readonly opts: GatewayOptions) {
    this.fusion = { ...DEFAULT_FUSION, ...opts.fusion } as Required<FusionOptions>;
    this.shardDeadlineMs = opts.shardDeadlineMs ?? 1000;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 1000;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? 5000;
    this.maxInFlight = opts.maxInFlight ?? 256;
    this.candidates = opts.candidates ?? 20;
    this.now = opts.now ?? (() => performance.now());
    this.replyReserveMs = opts.replyReserveMs ?? 50;
    this.retriever = (opts.retriever ?? createRetriever)(opts.shards, opts.embedder, {
      shardDeadlineMs: this.shardDeadlineMs,
      embedDeadlineMs: opts.embedDeadlineMs ?? 1000,
      maxPerShard: opts.maxPerShard ?? 32,
      maxToEmbedder: opts.maxToEmbedder ?? 32,
      maxQueue: opts.maxQueue ?? 8,
      embedShare: opts.embedShare ?? 0.5,
      replyReserveMs: this.replyReserveMs,
      now: this.now,
      fanOut: opts.fanOut ?? searchShards,
    });
  }

  /** The retrieval's upstream clients by target (GET /metrics: bulkheads, breakers). */
  upstreams(): Array<{ target: string; client: unknown }> {
    return this.retriever.upstreams?.() ?? [];
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

  /** The budget of a request: the client's, within (0, maxTimeoutMs]; the default when it gave none. */
  budgetOf(timeoutMs: number | undefined): number {
    if (timeoutMs === undefined) return Math.min(this.defaultTimeoutMs, this.maxTimeoutMs);
    if (!(timeoutMs > 0)) throw new RagError('INVALID_INPUT', `the request timeout must be a positive number of ms, got ${timeoutMs}`);
    return Math.min(timeoutMs, this.maxTimeoutMs);
  }

  async search(text: string, opts: GatewaySearchOptions = {}): Promise<GatewayResult> {
    const t0 = this.now();
    if (!this.stats) throw new RpcError('UNAVAILABLE', 'the gateway has not heard from every shard yet');
    if (typeof text !== 'string' || text.trim() === '') throw new RagError('INVALID_INPUT', 'query must be a non-empty string');
    const budgetMs = this.budgetOf(opts.timeoutMs);
    // shed early: a request the gateway cannot start now is told so at once, not queued past its budget
    if (this.load.inFlight >= this.maxInFlight) {
      this.load.shed++;
      throw new RpcError('OVERLOADED', `the gateway is at capacity (${this.load.inFlight} requests in flight, bound ${this.maxInFlight}): try again shortly`, '', 1000);
    }
    this.load.inFlight++;
    try {
      return await this.searchWithin(text, opts, t0, budgetMs);
    } finally {
      this.load.inFlight--;
    }
  }

  private async searchWithin(text: string, opts: GatewaySearchOptions, t0: number, budgetMs: number): Promise<GatewayResult> {
    const stats = this.stats!;
    const k = opts.k ?? 10;
    const mode = opts.mode ?? 'hybrid';
    const timings: GatewayResult['timings'] = { fanout: 0, total: 0 };
    let t = this.now();
    const tokens = this.analyzer.analyze(text);
    timings.analyze = this.now() - t;
    const depth = Math.max(k, mode === 'hybrid' ? this.candidates : k);
    const r = await this.retriever.retrieve({ text, tokens, mode, k: depth, stats, deadline: t0 + budgetMs, signal: opts.signal });
    if (r.timings.embed !== undefined) timings.embed = r.timings.embed;
    timings.fanout = r.timings.fanout;
    r.missingShards.forEach((s, i) => this.opts.onMissing?.(s, r.errors[i]));
    if (r.missingShards.length === this.opts.shards.length && this.now() >= t0 + budgetMs - this.replyReserveMs - 1) {
      // nothing useful to return, and the time is spent: the client is told so (504), not sent an empty 200
      throw new RpcError('DEADLINE_EXCEEDED', `no shard answered within the request's ${budgetMs} ms budget`);
    }
    const hit = (label: number, score: number, rank: number, scores: Hit['scores']): Hit => {
      const c = r.chunks.get(label);
      if (!c) throw new RagError('CORRUPT', `a shard returned label ${label} without its chunk`);
      return { rank: rank + 1, chunkId: c.chunkId, docId: c.docId, score, scores, ...(c.title !== undefined ? { title: c.title } : {}), text: c.text, position: c.position, metadata: c.metadata };
    };
    let hits: Hit[];
    if (r.mode === 'hybrid') {
      t = this.now();
      hits = fuse([r.text, r.dense], this.fusion).slice(0, k).map((f, i) => hit(f.label, f.score, i, { bm25: f.sources[0], dense: f.sources[1] }));
      timings.fuse = this.now() - t;
    } else {
      const list = (r.mode === 'bm25' ? r.text : r.dense).slice(0, k);
      hits = list.map((h, i) => hit(h.label, h.score, i, r.mode === 'bm25' ? { bm25: h.score } : { dense: h.score }));
    }
    timings.total = this.now() - t0;
    return { hits, partial: r.missingShards.length > 0, missingShards: r.missingShards, degraded: r.degraded, budgetMs, timings };
  }

  async close(): Promise<void> {
    await this.retriever.close();
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

/** The header a client sets to its budget for the request, in ms (cut to the gateway's `maxTimeoutMs`). */
export const REQUEST_TIMEOUT_HEADER = 'x-request-timeout-ms';

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
  traceRequests(app, (url) => url.startsWith('/v1/')); // a SERVER span per API request (tracing on; shared/observe/tracing.ts)
  const access = await registerAccess(app, opts.auth, opts.rateLimit);
  app.addHook('onClose', async () => access.close());
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (isRpcError(err)) {
      // a service the gateway cannot do without (the embedder) failed: 503, or 504 when it ran out of time
      const status = err.code === 'DEADLINE_EXCEEDED' ? 504 : err.code === 'INVALID_ARGUMENT' ? 400 : 503;
      if (status === 503) reply.header('retry-after', String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000))));
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
      const header = request.headers[REQUEST_TIMEOUT_HEADER];
      let timeoutMs: number | undefined;
      if (header !== undefined) {
        timeoutMs = Number(header);
        if (typeof header !== 'string' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
          throw new HttpError(400, `${REQUEST_TIMEOUT_HEADER} must be a positive number of ms, got "${String(header)}"`);
        }
      }
      const ac = new AbortController();
      request.raw.once('close', () => {
        if (!request.raw.complete) ac.abort();
      });
      return inRequestSpan(request, async () => {
        const r = await gateway.search(body.query, { k: body.k, mode: body.mode, signal: ac.signal, timeoutMs });
        annotate({ 'rag.mode': body.mode ?? 'hybrid', 'rag.hits': r.hits.length, 'rag.partial': r.partial, 'rag.degraded': r.degraded, 'rag.budget_ms': r.budgetMs });
        return r;
      });
    },
  );
  return app;
}

/** What the gateway process reads from its environment (the supervisor sets it). */
export interface GatewayEnv {
  shardUrls: string[];
  /** Shard i's replica URLs at index i (RAG_SHARD_REPLICAS, JSON): a shard with more than one is balanced by a
   *  `ReplicaSet` (replica-set.ts, lesson t4/05); unset or one URL: `shardUrls[i]` alone. */
  shardReplicas?: string[][];
  /** A module exporting `pick` (a `PickRule`) for the replica sets instead of `leastOutstanding` (lesson t4/05's exercise). */
  pickModule?: string;
  embedderUrl: string;
  secret: string | undefined;
  server: GatewayServerOptions;
  shardDeadlineMs?: number;
  /** A module exporting `searchShards` to use instead of the engine's (lesson t4/00 measures the learner's). */
  fanOutModule?: string;
  /** A module exporting `createRetriever` to use instead of the engine's (lesson t4/08 measures before's and the learner's). */
  retrieverModule?: string;
  /** The write log's name (RAG_WRITE_LOG): take writes through the ingest worker (gateway-writes.ts). */
  writeLog?: string;
  /**
   * A circuit breaker in front of every shard and the embedder (`RAG_GATEWAY_BREAKER`, JSON: consecutiveFailures,
   * halfOpenAfterMs; resilience.ts `withBreaker`, lesson t4/06): a dead upstream is failed fast (the answer flagged
   * at once, not after the shard deadline) and probed once per cool-down; its state is `rag_breaker_state` in GET
   * /metrics. Default none (the lessons measure the gateway without one); the container deployments set it.
   */
  breaker?: Pick<BreakerOptions, 'consecutiveFailures' | 'halfOpenAfterMs'>;
  /** Gateway limits (`RAG_GATEWAY_LIMITS`, JSON): maxInFlight, maxPerShard, maxToEmbedder, maxQueue, defaultTimeoutMs, maxTimeoutMs. */
  limits?: Pick<GatewayOptions, 'maxInFlight' | 'maxPerShard' | 'maxToEmbedder' | 'maxQueue' | 'defaultTimeoutMs' | 'maxTimeoutMs' | 'embedDeadlineMs' | 'replyReserveMs' | 'embedShare'>;
}

/** Starts the gateway: clients to the services, statistics from the shards, the HTTP server on `port`. */
export async function startGateway(env: GatewayEnv, port: number, host = '127.0.0.1'): Promise<{ url: string; gateway: Gateway; notReady(): void; close(): Promise<void> }> {
  const client = (url: string, service?: string) => httpRpcClient(url, { secret: env.secret, connections: 32, service });
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
  const retriever = env.retrieverModule ? ((await import(pathToFileURL(env.retrieverModule).href)) as { createRetriever: RetrieverFactory }).createRetriever : undefined;
  const pick = env.pickModule ? ((await import(pathToFileURL(env.pickModule).href)) as { pick: PickRule }).pick : undefined;
  // with `breaker`: each shard (a replica set as a whole: open only when every replica fails) and the embedder
  const breakers: Array<{ target: string; client: BreakerClient }> = [];
  const guard = (c: RpcClient, target: string): RpcClient => {
    if (!env.breaker) return c;
    const b = withBreaker(c, {
      ...env.breaker,
      onStateChange: (state) => process.stderr.write(`gateway: circuit of ${target} ${state}\n`),
    });
    breakers.push({ target, client: b });
    return b;
  };
  const shards: RpcClient[] = env.shardUrls.map((url, i) => {
    const urls = env.shardReplicas?.[i] ?? [url];
    return guard(urls.length > 1 ? new ReplicaSet(urls.map((u) => client(u, `shard-${i}`)), { name: `shard-${i}`, ...(pick ? { pick } : {}) }) : client(urls[0], `shard-${i}`), `shard-${i}`);
  });
  const gateway = new Gateway({ ...env.limits, shards, embedder: guard(client(env.embedderUrl, 'embedder'), 'embedder'), shardDeadlineMs: env.shardDeadlineMs, onMissing, fanOut, retriever });
  const ac = new AbortController();
  const initialised = gateway.initWhenReady(200, ac.signal).catch(() => {});
  const app = await createGatewayApp(gateway, env.server);
  const writes = env.writeLog ? await attachWrites(app, gateway, { log: env.writeLog }) : undefined;
  // GET /metrics (t4/15): Prometheus text for a caller with the service credential (Authorization: Bearer)
  const metrics = createServiceMetrics('gateway');
  metrics.setReady(() => gateway.ready);
  // the retriever's heads (bulkheads) and, under them, the breakers: each sets its own gauges
  watchGateway(metrics, { load: gateway.load, upstreams: () => [...gateway.upstreams(), ...breakers] });
  registerFastifyMetrics(app, metrics, env.secret);
  // shutting down (serviceMain's SIGTERM, t4/14): /readyz 503 while queries are still answered, so balancers move away first
  let leaving = false;
  app.addHook('onRequest', async (request, reply) => {
    if (leaving && request.url === '/readyz') return reply.code(503).send({ ready: false, shuttingDown: true });
  });
  await app.listen({ port, host });
  void initialised; // ready (GET /readyz 200) once every shard has answered `stats`
  const addr = app.server.address() as { port: number };
  return {
    url: `http://${host}:${addr.port}`,
    gateway,
    notReady: () => {
      leaving = true;
    },
    close: async () => {
      ac.abort();
      await app.close();
      await writes?.close();
      await gateway.close();
    },
  };
}

/**
 * `RAG_GATEWAY_BREAKER`: unset, empty or `off` → no breaker; `on` → the defaults (5 failures in a row, 1 s open);
 * a JSON object → those settings (`{"consecutiveFailures": 5, "halfOpenAfterMs": 1000}`). Anything else throws, so
 * a typo stops the start instead of silently running without one.
 */
export function breakerFromEnv(v: string | undefined): GatewayEnv['breaker'] {
  if (v === undefined || v.trim() === '' || v.trim() === 'off') return undefined;
  if (v.trim() === 'on') return { ...BREAKER_DEFAULTS };
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch {
    throw new Error(`RAG_GATEWAY_BREAKER must be off, on or a JSON object {consecutiveFailures, halfOpenAfterMs}, got ${JSON.stringify(v)}`);
  }
  const r = o as Record<string, unknown>;
  const ok = (x: unknown, min: number) => x === undefined || (typeof x === 'number' && Number.isInteger(x) && x >= min);
  if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.keys(r).some((k) => k !== 'consecutiveFailures' && k !== 'halfOpenAfterMs') || !ok(r.consecutiveFailures, 1) || !ok(r.halfOpenAfterMs, 1)) {
    throw new Error(`RAG_GATEWAY_BREAKER: expected {"consecutiveFailures": integer ≥ 1, "halfOpenAfterMs": integer ≥ 1}, got ${v}`);
  }
  return { ...BREAKER_DEFAULTS, ...(r as GatewayEnv['breaker']) };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const env: GatewayEnv = {
    shardUrls: (process.env.RAG_SHARD_URLS ?? '').split(',').filter(Boolean),
    shardReplicas: process.env.RAG_SHARD_REPLICAS ? (JSON.parse(process.env.RAG_SHARD_REPLICAS) as string[][]) : undefined,
    pickModule: process.env.RAG_REPLICA_PICK || undefined,
    embedderUrl: process.env.RAG_EMBEDDER_URL ?? '',
    secret: process.env.RAG_INTERNAL_TOKEN,
    server: JSON.parse(process.env.RAG_GATEWAY_SERVER ?? '{"auth":false}') as GatewayServerOptions,
    shardDeadlineMs: process.env.RAG_SHARD_DEADLINE_MS ? Number(process.env.RAG_SHARD_DEADLINE_MS) : undefined,
    fanOutModule: process.env.RAG_GATEWAY_FANOUT || undefined,
    retrieverModule: process.env.RAG_GATEWAY_RETRIEVER || undefined,
    writeLog: process.env.RAG_WRITE_LOG || undefined,
    limits: process.env.RAG_GATEWAY_LIMITS ? (JSON.parse(process.env.RAG_GATEWAY_LIMITS) as GatewayEnv['limits']) : undefined,
    breaker: breakerFromEnv(process.env.RAG_GATEWAY_BREAKER),
  };
  serviceMain('gateway', () => startGateway(env, Number(flag('port', '0')), flag('host', '127.0.0.1')));
}
