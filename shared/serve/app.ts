/**
 * The HTTP service around an Engine, as a Fastify instance that tests start on 127.0.0.1 port 0 and `npm run serve`
 * starts on a real port (one per worker in cluster mode, see cluster/).
 *
 *     const server = await createServer({ engine });       // or without engine: not ready until setEngine()
 *     const url = await server.listen(0, '127.0.0.1');
 *     …
 *     await server.close();                               // stops accepting, finishes in-flight requests
 *
 * Routes (routes/, schemas in schemas.ts; OpenAPI at GET /openapi.json), and who may call them (access.ts):
 *   POST   /v1/query           {query, k?, mode?, filter?, answer?} → {hits, answer, timings, version}   open or read
 *   POST   /v1/documents       {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}   write
 *   DELETE /v1/documents/:id   → {version, removed}                                                       write
 *   DELETE /v1/documents       {ids} → {version, removed}                                                 write
 *   GET    /v1/documents/:id/versions[/:v]   a document's versions; the document as of v (store/history.ts)   open or read
 *   POST   /v1/documents/:id/rollback        {version} → the document as it was then, as a new write        write
 *   GET    /v1/whoami          the presented key's id, name and scopes                                    any key
 *   GET    /healthz            the process is up                                                          open
 *   GET    /readyz             200 once the index is loaded, 503 before and while shutting down           open
 *   GET    /metrics            Prometheus text (observe/metrics.ts)                                       admin
 *   POST   /v1/admin/reload    {index?} → hot update to another saved index (reload.ts)                   admin
 *   POST   /v1/admin/model     {model?} → hot-swap the ONNX model (same model, new quantization/export)  admin
 *
 * Without `auth`, createServer requires keys and knows none: writes and /metrics answer 401 until keys are given
 * (`auth: {keysFile}` or `auth: {keys}`); `auth: false` opens every route (tests, development).
 *
 * Before any route runs: a request whose headers have not all arrived within `headersTimeoutMs`, or whose body has
 * not within `requestTimeoutMs`, is answered 408 and its connection closed (slow senders); a URL whose
 * percent-encoding is not UTF-8 and a JSON body that is not UTF-8 are refused with 400 (never decoded to U+FFFD); a
 * JSON body with a `__proto__` or `constructor.prototype` key anywhere is refused with 400.
 *
 * This file puts the parts together: the engine and its version (replica.ts), access and rate limits (access.ts),
 * load shedding (load-shedding.ts), error answers (http-errors.ts), the routes, and graceful close. No per-request
 * log line (the logger is at `warn` unless LOG_LEVEL says otherwise).
 */
import { isUtf8 } from 'node:buffer';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Engine } from '../engine.ts';
import { RagError } from '../errors.ts';
import { createMetrics, type Metrics } from '../observe/metrics.ts';
import { ResultsCache, type ResultsCacheOptions } from './cache.ts';
import { registerAccess, type AuthOptions, type RateLimitOptions } from './access.ts';
import { errorBody, errorHandler, formatValidation, frameworkErrors, HttpError } from './http-errors.ts';
import { LoadShedder } from './load-shedding.ts';
import { Replica } from './replica.ts';
import type { RouteContext } from './routes/context.ts';
import { registerDocumentRoutes } from './routes/documents.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerMetrics } from './routes/metrics.ts';
import { registerOpenApi } from './routes/openapi.ts';
import { registerQueryRoute } from './routes/query.ts';
import { API_LIMITS } from './schemas.ts';
import type { ReloadResult } from './reload.ts';
import type { HistoryReader } from './store/history.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerVersionRoutes } from './routes/versions.ts';
import { presenceAware, Sequencer, type ApplyOutcome, type LogOp, type WritePath } from './writes.ts';

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
  /**
   * Runs a hot update (POST /v1/admin/reload; reload.ts): `index` is the folder asked for, undefined for the
   * configured one. Without it the route answers 501.
   */
  reload?: (index: string | undefined) => Promise<ReloadResult>;
  /** Swaps the served ONNX model (POST /v1/admin/model). Without it the route answers 501. */
  swapModel?: RouteContext['swapModel'];
  /** Every document's versions (store/history.ts); undefined: the version routes answer 501. */
  history?: HistoryReader & { failed?: string };
  /** The index version the engine starts at (a cluster worker joining late starts at the primary's). Default 0. */
  version?: number;
  /**
   * API keys (access.ts): a keys file and/or keys in code, and whether reads need a key. Default: keys required,
   * none known (writes and /metrics answer 401). `false`: every route open.
   */
  auth?: AuthOptions | false;
  /**
   * Rate limits per key (or per IP for anonymous reads): read and write budgets per window, 0 = unlimited. Default
   * reads unlimited (env READ_RATE_LIMIT), writes 1200 per minute (env WRITE_RATE_LIMIT), window env
   * RATE_WINDOW_MS. `redisUrl`: count in Redis, shared by every worker and restart.
   */
  rateLimit?: Omit<RateLimitOptions, 'redis'> & { redisUrl?: string };
  /** Ms for a request's headers to arrive (408 and close beyond; 0 = no limit). Default 10,000 (env HEADERS_TIMEOUT_MS). */
  headersTimeoutMs?: number;
  /**
   * Ms for a whole request, headers and body, to arrive (408 and close beyond; 0 = no limit). Default 30,000 (env
   * REQUEST_TIMEOUT_MS). Time spent answering does not count.
   */
  requestTimeoutMs?: number;
}

export interface RagServer {
  app: FastifyInstance;
  cache: ResultsCache | undefined;
  metrics: Metrics;
  readonly engine: Engine | undefined;
  /** The index version this server answers with. */
  readonly version: number;
  /** Installs the engine (loaded from `dir`, when given); the server becomes ready. */
  setEngine(engine: Engine, version?: number, dir?: string): void;
  /** Applies a sequenced write (or reload) to this server's engine (in order) and moves to its version. Used by the sequencer. */
  applySequenced(version: number, op: LogOp): Promise<ApplyOutcome>;
  /** Loads another index beside the engine for a hot update (Replica.stage). */
  stage: Replica['stage'];
  /** Drops a staged index. */
  unstage(dir?: string): void;
  /**
   * Hands over to other servers (a cluster worker replaced by a hot update): from now on every request is passed on,
   * as received, to one of `urls` in turn, and its answer sent back with `connection: close`.
   */
  retire(urls: string[]): void;
  /** Forgets the event-loop delay measured so far (loading, a warm-up, a forced GC are not load). */
  resetPressure(): void;
  listen(port: number, host?: string): Promise<string>;
  /** Graceful: stops accepting, lets in-flight requests finish, then closes the writes path and timers. */
  close(): Promise<void>;
}

/** A character that has no place in a request target (RFC 3986: everything else is percent-encoded). */
const NOT_URL_CHAR = /[^\x21-\x7e]/;

/** Resolves once `redis` is connected, or after `ms` (or on a connection error): never rejects. */
function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
    redis.once('error', done);
  });
}

/** True when `text` is JSON (used only to tell a forbidden key from a syntax error, on the error path). */
function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
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
  const headersTimeout = opts.headersTimeoutMs ?? envNumber('HEADERS_TIMEOUT_MS') ?? 10_000;
  const requestTimeout = opts.requestTimeoutMs ?? envNumber('REQUEST_TIMEOUT_MS') ?? 30_000;
  if (headersTimeout > 0 && requestTimeout > 0 && headersTimeout > requestTimeout) {
    throw new RagError('INVALID_INPUT', `the headers timeout (${headersTimeout} ms) must not exceed the request timeout (${requestTimeout} ms)`);
  }
  const activeTimeouts = [headersTimeout, requestTimeout].filter((t) => t > 0);
  const rl = opts.rateLimit ?? {};
  const limitRedis = rl.redisUrl
    ? new Redis(rl.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false })
    : undefined;
  limitRedis?.on('error', (err) => logger.warn({ err: err.message }, 'redis rate-limit store unavailable; requests are not counted'));
  // start counting from the first request: wait (briefly) for the connection; without it requests pass uncounted
  if (limitRedis) await waitReady(limitRedis, 3000);

  // typed as the default instance (pino's Logger type is wider than FastifyBaseLogger), so the route modules take it
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    return503OnClosing: true,
    // an id of 512 four-byte characters, percent-encoded, fits in a path segment (ids.ts); longer is 414
    routerOptions: { maxParamLength: API_LIMITS.maxEncodedIdChars },
    // slow senders: Node answers 408 and closes; the timers are checked this often (Node's default is 30 s)
    requestTimeout,
    http: {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, ...activeTimeouts.map((t) => Math.floor(t / 4)))),
    },
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    schemaErrorFormatter: (errors, dataVar) => formatValidation(errors as never, dataVar),
  }) as unknown as FastifyInstance;

  // a retired worker (hot update, cluster/worker.ts) passes every request on to a new worker: first, before anything
  // reads the body or answers
  let retiredTo: string[] | undefined;
  let nextTarget = 0;
  const proxyAgent = new HttpAgent({ keepAlive: true });
  app.addHook('onRequest', (request, reply, done) => {
    if (!retiredTo || retiredTo.length === 0) return done();
    reply.hijack();
    passOn(request.raw, reply.raw, retiredTo[nextTarget++ % retiredTo.length], proxyAgent);
    done();
  });

  const shedding = new LoadShedder({ maxInFlight, maxEventLoopDelayMs, retryAfterSeconds, metrics });
  const replica = new Replica(metrics, cache, opts.engine, opts.version ?? 0);
  // an unknown-id delete changes nothing: the sequencer sees what this replica holds (writes.ts, presenceAware)
  const writes: WritePath = opts.writes ?? presenceAware(new Sequencer((v, op) => replica.applySequenced(v, op), replica.version), () => replica);
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
    reload: opts.reload,
    swapModel: opts.swapModel,
    history: opts.history,
  };

  await registerOpenApi(app);
  app.setErrorHandler(errorHandler({ bodyLimit: app.initialConfig.bodyLimit ?? bodyLimit, metrics }));
  // JSON bodies: refused unless they are UTF-8 (Node would turn bad bytes into U+FFFD), then Fastify's parser, which
  // refuses __proto__ and constructor.prototype keys anywhere
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const buf = body as Buffer;
    if (!isUtf8(buf)) return done(new HttpError(400, 'the request body is not valid UTF-8'), undefined);
    const text = buf.toString('utf8');
    parseJson(request, text, (err, value) => {
      if (err && text.length > 0 && parsesAsJson(text)) {
        return done(new HttpError(400, 'the request body has a forbidden key (__proto__ or constructor.prototype)'), undefined);
      }
      done(err, value);
    });
  });
  // URLs: raw bytes outside printable ASCII, and percent-encoding that is not UTF-8, are refused, so no id silently
  // becomes U+FFFD (or a Latin-1 reading of its bytes)
  app.addHook('onRequest', (request, _reply, done) => {
    const url = request.url;
    if (NOT_URL_CHAR.test(url)) return done(new HttpError(400, 'the request URL has bytes outside printable ASCII: percent-encode them as UTF-8'));
    if (url.includes('%')) {
      try {
        decodeURIComponent(url);
      } catch {
        return done(new HttpError(400, 'the request URL is not valid percent-encoded UTF-8'));
      }
    }
    done();
  });
  const auth = opts.auth ?? {};
  const access = await registerAccess(
    app,
    auth === false
      ? false
      : { onReloadError: (err) => logger.warn({ err: err.message }, 'keys file changed but could not be read; the keys loaded before stay in force'), ...auth },
    {
      read: rl.read ?? envNumber('READ_RATE_LIMIT'),
      write: rl.write ?? envNumber('WRITE_RATE_LIMIT'),
      windowMs: rl.windowMs ?? envNumber('RATE_WINDOW_MS'),
      redis: limitRedis,
    },
  );
  // while closing, tell keep-alive clients to go away once their in-flight response is sent, so close() can finish
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  registerMetrics(app, ctx);
  registerQueryRoute(app, ctx);
  registerDocumentRoutes(app, ctx);
  registerVersionRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  registerKeyRoutes(app);
  registerAdminRoutes(app, ctx);

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
    setEngine(e: Engine, v?: number, dir?: string) {
      replica.setEngine(e, v, dir);
      shedding.resetPressure();
    },
    applySequenced: (v, op) => replica.applySequenced(v, op),
    stage: (dir, from, load, ops) => replica.stage(dir, from, load, ops),
    unstage: (dir) => replica.unstage(dir),
    retire(urls: string[]) {
      retiredTo = urls;
    },
    resetPressure: () => shedding.resetPressure(),
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
      access.close();
      limitRedis?.disconnect();
      proxyAgent.destroy();
      await writes.close?.();
    },
  };
}

/**
 * Sends a request, as received (method, path, headers, body), to the server at `target` and its answer back, with
 * `connection: close` (the client comes back through the cluster's port). If `target` cannot be reached: 503 +
 * Retry-After.
 */
function passOn(req: IncomingMessage, res: ServerResponse, target: string, agent: HttpAgent): void {
  const url = new URL(target);
  const headers = { ...req.headers };
  delete headers.connection;
  delete headers['keep-alive'];
  const up = httpRequest({ host: url.hostname, port: url.port, method: req.method, path: req.url, headers, agent }, (answer) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive') out[k] = v;
    out.connection = 'close';
    res.writeHead(answer.statusCode ?? 502, out);
    answer.pipe(res);
    answer.on('error', () => res.destroy());
  });
  up.on('error', (err) => {
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify(errorBody(503, `this worker was replaced by a hot update and the new one did not answer (${err.message}); retry it`));
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' });
    res.end(body);
  });
  req.on('error', () => up.destroy());
  req.pipe(up);
}
