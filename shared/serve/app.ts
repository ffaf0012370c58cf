/**
 * The HTTP service around an Engine, as a Fastify instance that tests start on 127.0.0.1 port 0 and `npm run serve`
 * starts on a real port (one per worker in cluster mode, see cluster/).
 *
 *     const server = await createServer({ engine });       // or without engine: not ready until setEngine()
 *     const url = await server.listen(0, '127.0.0.1');
 *     …
 *     await server.close();                               // stops accepting, finishes in-flight requests
 *
 * Routes (routes/, schemas in schemas.ts; OpenAPI at GET /openapi.json):
 *   POST   /v1/query           {query, k?, mode?, filter?, answer?} → {hits, answer, timings, version}
 *   POST   /v1/documents       {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}
 *   DELETE /v1/documents/:id   → {version, removed}
 *   GET    /healthz            the process is up
 *   GET    /readyz             200 once the index is loaded, 503 before and while shutting down
 *   GET    /metrics            Prometheus text (observe/metrics.ts)
 *
 * This file puts the parts together: the engine and its version (replica.ts), load shedding (load-shedding.ts),
 * error answers (http-errors.ts), the routes, and graceful close. No per-request log line (the logger is at `warn`
 * unless LOG_LEVEL says otherwise).
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Engine } from '../engine.ts';
import { RagError } from '../errors.ts';
import { createMetrics, type Metrics } from '../observe/metrics.ts';
import { ResultsCache, type ResultsCacheOptions } from './cache.ts';
import { errorHandler, formatValidation } from './http-errors.ts';
import { LoadShedder } from './load-shedding.ts';
import { Replica } from './replica.ts';
import type { RouteContext } from './routes/context.ts';
import { registerDocumentRoutes } from './routes/documents.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetrics } from './routes/metrics.ts';
import { registerOpenApi } from './routes/openapi.ts';
import { registerQueryRoute } from './routes/query.ts';
import { Sequencer, type ApplyOutcome, type WriteOp, type WritePath } from './writes.ts';

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

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RagError('INVALID_INPUT', `environment variable ${name}="${v}" is not a non-negative number`);
  return n;
}

export async function createServer(opts: ServerOptions = {}): Promise<RagServer> {
  const deadlineMs = opts.deadlineMs ?? envNumber('DEADLINE_MS') ?? 1000;
  const writeDeadlineMs = opts.writeDeadlineMs ?? 10_000;
  const maxInFlight = opts.maxInFlight ?? envNumber('MAX_IN_FLIGHT') ?? 256;
  const maxEventLoopDelayMs = opts.maxEventLoopDelayMs ?? envNumber('MAX_EVENT_LOOP_DELAY_MS') ?? 300;
  const retryAfterSeconds = opts.retryAfterSeconds ?? 1;
  const metrics = opts.metrics ?? createMetrics();
  const cache = opts.cache === false ? undefined : new ResultsCache({ ...opts.cache, metrics });
  const logger =
    typeof opts.logger === 'object' ? opts.logger : pino({ level: opts.logger ?? process.env.LOG_LEVEL ?? 'warn' });
  const bodyLimit = opts.bodyLimit ?? envNumber('BODY_LIMIT') ?? 1024 * 1024;

  // typed as the default instance (pino's Logger type is wider than FastifyBaseLogger), so the route modules take it
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, dataVar) => formatValidation(errors as never, dataVar),
  }) as unknown as FastifyInstance;

  const shedding = new LoadShedder({ maxInFlight, maxEventLoopDelayMs, retryAfterSeconds, metrics });
  const replica = new Replica(metrics, cache, opts.engine, opts.version ?? 0);
  const writes: WritePath = opts.writes ?? new Sequencer((v, op) => replica.applySequenced(v, op), replica.version);
  let closing = false;
  const ctx: RouteContext = {
    replica,
    get closing() {
      return closing;
    },
    cache,
    metrics,
    shedding,
    writes,
    deadlineMs,
    writeDeadlineMs,
    metricsText: opts.metricsText,
  };

  await registerOpenApi(app);
  app.setErrorHandler(errorHandler({ bodyLimit: app.initialConfig.bodyLimit ?? bodyLimit, metrics }));
  // while closing, tell keep-alive clients to go away once their in-flight response is sent, so close() can finish
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  registerMetrics(app, ctx);
  registerQueryRoute(app, ctx);
  registerDocumentRoutes(app, ctx);
  registerHealthRoutes(app, ctx);

  await app.ready();
  replica.updateGauges();

  return {
    app,
    cache,
    metrics,
    get engine() {
      return replica.engine;
    },
    get version() {
      return replica.version;
    },
    setEngine(e: Engine, v?: number) {
      replica.setEngine(e, v);
      shedding.resetPressure();
    },
    applySequenced: (v, op) => replica.applySequenced(v, op),
    async listen(port: number, host = '127.0.0.1') {
      await app.listen({ port, host });
      shedding.resetPressure();
      const addr = app.server.address();
      return typeof addr === 'object' && addr ? `http://${host}:${addr.port}` : String(addr);
    },
    async close() {
      closing = true;
      await app.close();
      shedding.close();
      await writes.close?.();
    },
  };
}
