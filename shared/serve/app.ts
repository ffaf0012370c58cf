/**
 * The HTTP service around an Engine, as a Fastify instance that tests start on 127.0.0.1 port 0 and `npm run serve`
 * starts on a real port (one per worker in cluster mode, see cluster.ts).
 *
 *     const server = await createServer({ engine });       // or without engine: not ready until setEngine()
 *     const url = await server.listen(0, '127.0.0.1');
 *     …
 *     await server.close();                               // stops accepting, finishes in-flight requests
 *
 * Routes (schemas.ts; OpenAPI at GET /openapi.json):
 *   POST   /v1/query           {query, k?, mode?, filter?, answer?} → {hits, answer, timings, version}
 *   POST   /v1/documents       {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}
 *   DELETE /v1/documents/:id   → {version, removed}
 *   GET    /healthz            the process is up
 *   GET    /readyz             200 once the index is loaded, 503 before and while shutting down
 *   GET    /metrics            Prometheus text (observe/metrics.ts)
 *
 * The query hot path: results cache lookup first (a hit sends the stored serialized body: no engine work, no
 * JSON.stringify); a miss runs the engine, serializes once with the route's compiled response schema and stores that
 * string. No per-request log line (the logger is at `warn` unless LOG_LEVEL says otherwise).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import pino from 'pino';
import type { Engine, RetrievalMode } from '../engine.ts';
import { isRagError, RagError } from '../errors.ts';
import { createMetrics, type Metrics } from '../observe/metrics.ts';
import type { MetadataFilter } from '../retrieve/filter.ts';
import type { Doc } from '../types.ts';
import { ResultsCache, type ResultsCacheOptions } from './cache.ts';
import {
  commonErrors,
  deleteParams,
  errorSchema,
  healthResponse,
  ingestBody,
  queryBody,
  queryResponse,
  writeResponse,
} from './schemas.ts';
import { applyWrite, outcomeError, Sequencer, type ApplyOutcome, type WriteOp, type WritePath } from './writes.ts';

export interface ServerOptions {
  /** The engine to serve. Without it the server starts unready (GET /readyz 503) until `setEngine`. */
  engine?: Engine;
  /** Where writes go. Default: a Sequencer applying them to this server's engine, one at a time. */
  writes?: WritePath;
  /** Largest accepted request body, in bytes (413 beyond). Default 1 MiB (env BODY_LIMIT). */
  bodyLimit?: number;
  /** Per-query deadline in ms, from the moment the request was read (504 beyond). Default 1000 (env DEADLINE_MS). */
  deadlineMs?: number;
  /** Deadline for writes in ms; a 504 there means "outcome unknown". Default 10,000. */
  writeDeadlineMs?: number;
  /** Most queries in progress at once (beyond: 503 + Retry-After). Default 256 (env MAX_IN_FLIGHT). */
  maxInFlight?: number;
  /**
   * Shed queries (503 + Retry-After) while the event loop's worst delay over the last 250 ms exceeds this many ms.
   * 0 disables. Default 300 (env MAX_EVENT_LOOP_DELAY_MS).
   */
  maxEventLoopDelayMs?: number;
  /** Retry-After seconds sent with 503. Default 1. */
  retryAfterSeconds?: number;
  /** Results cache options, or false for no cache. Default: in-process LRU only. */
  cache?: ResultsCacheOptions | false;
  /** A pino logger, or a level. Default: pino at env LOG_LEVEL or 'warn'. */
  logger?: pino.Logger | string;
  /** Metrics registry. Default: a new one with process metrics. */
  metrics?: Metrics;
  /** Produces the /metrics text (cluster workers ask the primary for all workers' metrics). Default: this registry. */
  metricsText?: () => Promise<string>;
  /** The index version the engine starts at (a cluster worker joining late starts at the primary's). Default 0. */
  version?: number;
}

export interface RagServer {
  app: FastifyInstance;
  cache: ResultsCache | undefined;
  metrics: Metrics;
  readonly engine: Engine | undefined;
  /** The index version this server answers with. */
  readonly version: number;
  /** Installs the engine; the server becomes ready. */
  setEngine(engine: Engine, version?: number): void;
  /** Applies a sequenced write to this server's engine (in order) and moves to its version. Used by the sequencer. */
  applySequenced(version: number, op: WriteOp): Promise<ApplyOutcome>;
  listen(port: number, host?: string): Promise<string>;
  /** Graceful: stops accepting, lets in-flight requests finish, then closes the writes path and timers. */
  close(): Promise<void>;
}

interface QueryBody {
  query: string;
  k?: number;
  mode?: RetrievalMode;
  filter?: MetadataFilter;
  answer?: boolean;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const STAGES = ['analyze', 'bm25', 'embed', 'dense', 'fuse', 'answer', 'total'] as const;

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RagError('INVALID_INPUT', `environment variable ${name}="${v}" is not a non-negative number`);
  return n;
}

/** "body.k must be >= 1", "body.query is required", "body.foo is not a known field". */
export function formatValidation(
  errors: Array<{ keyword: string; instancePath: string; message?: string; params: Record<string, unknown> }>,
  dataVar: string,
): Error {
  const e = errors[0];
  const field = dataVar + e.instancePath.replace(/\//g, '.');
  let message: string;
  if (e.keyword === 'required') message = `${field}.${String(e.params.missingProperty)} is required`;
  else if (e.keyword === 'additionalProperties') message = `${field}.${String(e.params.additionalProperty)} is not a known field`;
  else if (e.keyword === 'enum') message = `${field} must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  else message = `${field} ${e.message ?? 'is invalid'}`;
  return new Error(message);
}

export async function createServer(opts: ServerOptions = {}): Promise<RagServer> {
  const deadlineMs = opts.deadlineMs ?? envNumber('DEADLINE_MS') ?? 1000;
  const writeDeadlineMs = opts.writeDeadlineMs ?? 10_000;
  const maxInFlight = opts.maxInFlight ?? envNumber('MAX_IN_FLIGHT') ?? 256;
  const maxLagMs = opts.maxEventLoopDelayMs ?? envNumber('MAX_EVENT_LOOP_DELAY_MS') ?? 300;
  const retryAfter = String(opts.retryAfterSeconds ?? 1);
  const metrics = opts.metrics ?? createMetrics();
  const cache = opts.cache === false ? undefined : new ResultsCache({ ...opts.cache, metrics });
  const logger =
    typeof opts.logger === 'object' ? opts.logger : pino({ level: opts.logger ?? process.env.LOG_LEVEL ?? 'warn' });

  let engine = opts.engine;
  let version = opts.version ?? 0;
  let closing = false;
  let inFlight = 0;
  let applyTail: Promise<unknown> = Promise.resolve();

  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? envNumber('BODY_LIMIT') ?? 1024 * 1024,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, dataVar) => formatValidation(errors as never, dataVar),
  });

  // event-loop pressure, sampled every 250 ms
  let overloaded = false;
  let lag: IntervalHistogram | undefined;
  let lagTimer: NodeJS.Timeout | undefined;
  if (maxLagMs > 0) {
    lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    lagTimer = setInterval(() => {
      overloaded = lag!.max / 1e6 > maxLagMs;
      lag!.reset();
    }, 250);
    lagTimer.unref();
  }
  // Loading an index blocks the loop for seconds; that is not load, so the sample starts afresh when serving begins.
  const resetPressure = () => {
    lag?.reset();
    overloaded = false;
  };

  const updateIndexGauges = () => {
    if (!engine) return;
    const s = engine.stats();
    metrics.indexChunks.set(s.chunks);
    metrics.indexDocuments.set(s.documents);
    metrics.indexVersion.set(version);
  };
  const moveTo = (v: number) => {
    if (v > version) version = v;
    cache?.setVersion(version);
  };
  moveTo(version);

  const applySequenced = (v: number, op: WriteOp): Promise<ApplyOutcome> => {
    const run = async (): Promise<ApplyOutcome> => {
      if (!engine) return { ok: false, code: 'NOT_READY', message: 'the index is not loaded yet' };
      const outcome = await applyWrite(engine, op);
      moveTo(v);
      updateIndexGauges();
      return outcome;
    };
    const p = applyTail.then(run, run);
    applyTail = p.catch(() => {});
    return p;
  };
  const writes: WritePath = opts.writes ?? new Sequencer(applySequenced, version);

  const refuse = (reply: FastifyReply, reason: string, message: string) => {
    metrics.shed.inc({ reason });
    reply.code(503).header('retry-after', retryAfter);
    return { statusCode: 503, error: 'Service Unavailable', message };
  };

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'rag-perf-lab engine',
        version: '1.0.0',
        description: 'Hybrid (BM25 + dense) retrieval with cited extractive answers over a saved index.',
      },
    },
  });
  app.addSchema(errorSchema);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    let status = 500;
    let message = err.message;
    if (err.validation) status = 400;
    else if (err instanceof HttpError) status = err.statusCode;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      message = `request body is larger than the ${app.initialConfig.bodyLimit}-byte limit`;
    } else if (isRagError(err)) status = err.code === 'INVALID_INPUT' ? 400 : err.code === 'NOT_FOUND' ? 404 : 500;
    else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) status = err.statusCode;
    if (status >= 500 && status !== 504) request.log.error({ err, url: request.url }, 'request failed');
    if (status === 504) metrics.deadline.inc();
    const names: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 504: 'Gateway Timeout' };
    reply.code(status).send({ statusCode: status, error: names[status] ?? 'Error', message: status === 500 ? 'internal error' : message });
  });

  // while closing, tell keep-alive clients to go away once their in-flight response is sent, so close() can finish
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    metrics.requestDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode },
      reply.elapsedTime / 1000,
    );
    done();
  });

  /** Resolves with `p`, or rejects with a 504 once the request is `limit` ms old. */
  const withDeadline = <T>(reply: FastifyReply, p: Promise<T>, limit: number): Promise<T> => {
    const left = limit - reply.elapsedTime;
    if (left <= 0) return Promise.reject(new HttpError(504, `deadline of ${limit} ms passed before the work started`));
    let timer: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(504, `deadline of ${limit} ms exceeded`)), left);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  app.post(
    '/v1/query',
    {
      schema: {
        summary: 'Retrieve the top-k chunks for a query and a cited answer',
        body: queryBody,
        response: { 200: queryResponse, ...commonErrors },
      },
    },
    async (request: FastifyRequest<{ Body: QueryBody }>, reply) => {
      const eng = engine;
      if (!eng || closing) return refuse(reply, closing ? 'shutting_down' : 'not_ready', 'the index is not loaded yet');
      const body = request.body;
      const k = body.k ?? 10;
      const mode = body.mode ?? 'hybrid';
      const wantAnswer = body.answer ?? true;
      const key = cache?.key(body.query, k, wantAnswer ? mode : `${mode}-noanswer`, body.filter);
      if (key !== undefined) {
        const hit = cache!.get(key);
        if (hit !== undefined) return reply.type(JSON_TYPE).header('x-cache', 'memory').send(hit);
      }
      if (overloaded) return refuse(reply, 'event_loop', 'server overloaded (event-loop delay), retry later');
      if (inFlight >= maxInFlight) return refuse(reply, 'in_flight', `server busy (${inFlight} queries in progress), retry later`);
      inFlight++;
      try {
        if (key !== undefined) {
          const shared = await cache!.getShared(key);
          if (shared !== undefined) return reply.type(JSON_TYPE).header('x-cache', 'redis').send(shared);
        }
        const v = version;
        const result = await withDeadline(
          reply,
          eng.query(body.query, { k, mode, filter: body.filter, answer: wantAnswer }),
          deadlineMs,
        );
        for (const s of STAGES) {
          const ms = result.timings[s];
          if (ms !== undefined) metrics.stage.observe({ stage: s }, ms / 1000);
        }
        const serialize = reply.getSerializationFunction('200')!;
        const serialized = serialize({ ...result, version: v });
        if (key !== undefined) cache!.set(key, serialized);
        return reply.type(JSON_TYPE).header('x-cache', 'miss').send(serialized);
      } finally {
        inFlight--;
      }
    },
  );

  const submitWrite = async (reply: FastifyReply, op: WriteOp) => {
    if (!engine || closing) return refuse(reply, closing ? 'shutting_down' : 'not_ready', 'the index is not loaded yet');
    const ack = await withDeadline(reply, writes.submit(op), writeDeadlineMs);
    const err = outcomeError(ack.outcome);
    if (err) throw err;
    // the write is applied on every replica; make sure this one answers with its version before acknowledging
    moveTo(ack.version);
    return { version: ack.version, ...(ack.outcome as { result: object }).result };
  };

  app.post(
    '/v1/documents',
    {
      schema: {
        summary: 'Add or replace documents; acknowledged once searchable on every worker',
        body: ingestBody,
        response: { 200: writeResponse, ...commonErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { documents: Doc[] } }>, reply) =>
      submitWrite(reply, { kind: 'ingest', docs: request.body.documents }),
  );

  app.delete(
    '/v1/documents/:id',
    {
      schema: {
        summary: 'Remove a document; acknowledged once gone on every worker',
        params: deleteParams,
        response: { 200: writeResponse, 404: { $ref: 'Error#' }, ...commonErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const out = await submitWrite(reply, { kind: 'delete', ids: [request.params.id] });
      if ('removed' in out && out.removed === 0) throw new RagError('NOT_FOUND', `no document with id "${request.params.id}"`);
      return out;
    },
  );

  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: healthResponse } } }, async () => ({ status: 'ok', version }));

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: 200 once the index is loaded', response: { 200: healthResponse, 503: healthResponse } } },
    async (_request, reply) => {
      if (!engine || closing) return reply.code(503).send({ status: closing ? 'shutting down' : 'loading', version });
      const s = engine.stats();
      return { status: 'ready', version, documents: s.documents, chunks: s.chunks };
    },
  );

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const text = opts.metricsText ? await opts.metricsText() : await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  if (engine) updateIndexGauges();

  return {
    app: app as unknown as FastifyInstance,
    cache,
    metrics,
    get engine() {
      return engine;
    },
    get version() {
      return version;
    },
    setEngine(e: Engine, v?: number) {
      engine = e;
      if (v !== undefined) moveTo(v);
      updateIndexGauges();
      resetPressure();
    },
    applySequenced,
    async listen(port: number, host = '127.0.0.1') {
      await app.listen({ port, host });
      resetPressure();
      const addr = app.server.address();
      return typeof addr === 'object' && addr ? `http://${host}:${addr.port}` : String(addr);
    },
    async close() {
      closing = true;
      await app.close();
      if (lagTimer) clearInterval(lagTimer);
      lag?.disable();
      await writes.close?.();
    },
  };
}
