/**
 * RpcClient / RpcHandler over HTTP/1.1 and JSON: `POST /rpc/<method>` with the request as the body.
 *
 * - **Client**: an undici `Pool` per target (kept-alive connections, `connections` of them; no TCP or TLS handshake
 *   per call). Connection refused or reset → `UNAVAILABLE`; the callee's status maps back to its code (table below).
 * - **Server**: a plain `node:http` server bound to 127.0.0.1 on an ephemeral port by default. It answers only calls
 *   that carry the service credential (`x-internal-token`, compared in constant time) and serves `GET /healthz`
 *   (the process is up) and `GET /readyz` (`ready()` says it can take traffic) without one, for supervisors and
 *   probes. A request whose `x-deadline-ms` budget runs out is aborted (the handler's signal fires) and answered 504.
 * - **Tracing** (shared/observe/tracing.ts, off unless configured): each call is a CLIENT span whose `traceparent`
 *   goes with it, and a SERVER span on the callee continuing that trace; off, both sides call straight through.
 *
 *     code               status        code               status
 *     INVALID_ARGUMENT   400           OVERLOADED         503 + Retry-After
 *     UNAUTHENTICATED    401           DEADLINE_EXCEEDED  504
 *     NOT_FOUND          404           CANCELLED          499
 *     INTERNAL           500           UNAVAILABLE        503 (a draining server)
 *
 * The credential is a shared secret that the supervisor generates at start-up and hands each service in its
 * environment (`RAG_INTERNAL_TOKEN`); mTLS is the production alternative (see the T4 README).
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { metricsAuthorized, type HttpMetricsHook } from '../observe/service-metrics.ts';
import { clientSpan, injectContext, serverSpan, tracingOn } from '../observe/tracing.ts';
import {
  DEADLINE_HEADER,
  RpcError,
  TOKEN_HEADER,
  toRpcError,
  type CallOptions,
  type RpcClient,
  type RpcCode,
  type RpcHandler,
} from './rpc.ts';

const STATUS_OF: Record<RpcCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  NOT_FOUND: 404,
  CANCELLED: 499,
  INTERNAL: 500,
  OVERLOADED: 503,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

export interface HttpRpcServerOptions {
  /** Default env RAG_BIND_HOST, else 127.0.0.1: internal services never answer on a public interface. */
  host?: string;
  /** Default 0: an ephemeral port (read it from `port` / `url`). */
  port?: number;
  /** The service credential every call must carry; undefined accepts calls without one (tests, lessons). */
  secret?: string;
  /** Largest request body in bytes; default 8 MiB. Larger → 413. */
  maxBodyBytes?: number;
  /** `GET /readyz` answers 200 when this returns true (default: always ready). */
  ready?: () => boolean;
  /**
   * `GET /healthz` (liveness) answers 200 when this returns true, else 503 (default: always, the process answers).
   * Keep dependencies out of it: a liveness failure restarts the process, which cures no Redis outage (t4/14).
   */
  live?: () => boolean;
  /**
   * Serve `GET /metrics` (Prometheus text) and time every request into it (shared/observe/service-metrics.ts). With a
   * `secret`, a scrape must carry it as `Authorization: Bearer <secret>` (or `x-internal-token`) (t4/15).
   */
  metrics?: HttpMetricsHook;
  /** On `close()`, how long a connection may stay open after the server stops accepting, ms; default 5,000. */
  closeGraceMs?: number;
  /** The service's name in trace spans (`<service>/<method>`, shared/observe/tracing.ts); default none: `<method>`. */
  service?: string;
}

export interface HttpRpcServer {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Calls served so far, by method (what a lesson counts: the load an upstream received). */
  readonly calls: Map<string, number>;
  /** Stop accepting; in-flight calls finish; idle keep-alive connections close. */
  close(): Promise<void>;
  /**
   * `GET /readyz` answers 503 from now on while calls are still served: the first step of a graceful shutdown, so
   * balancers take this instance out before `close()` stops accepting (t4/14, serviceMain's preStop delay).
   */
  notReady(): void;
}

function sameSecret(given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: RpcError): void {
  const headers: Record<string, string> = {};
  if (err.code === 'OVERLOADED') headers['retry-after'] = String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)));
  send(res, STATUS_OF[err.code], { code: err.code, message: err.message, retryAfterMs: err.retryAfterMs }, headers);
}

/** Serves `handler` over HTTP. Resolves once it listens. */
export async function serveHttpRpc(handler: RpcHandler, opts: HttpRpcServerOptions = {}): Promise<HttpRpcServer> {
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const calls = new Map<string, number>();
  let draining = false;
  let leaving = false;
  opts.metrics?.setReady?.(() => !draining && !leaving && (opts.ready?.() ?? true)); // rag_ready reads what /readyz answers
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (opts.metrics) {
      const m = opts.metrics;
      const t0 = performance.now();
      res.once('finish', () => {
        const route = url === '/healthz' || url === '/readyz' || url === '/metrics' ? url : url.startsWith('/rpc/') && res.statusCode !== 404 ? url.split('?')[0] : 'unmatched';
        m.observe(route, req.method ?? 'GET', res.statusCode, (performance.now() - t0) / 1000);
      });
      if (req.method === 'GET' && url === '/metrics') {
        if (!metricsAuthorized(req.headers, opts.secret)) return sendError(res, new RpcError('UNAUTHENTICATED', 'GET /metrics needs Authorization: Bearer <the service credential>'));
        m.text().then(
          (text) => {
            res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(text) });
            res.end(text);
          },
          (err: Error) => sendError(res, new RpcError('INTERNAL', `metrics: ${err.message}`)),
        );
        return;
      }
    }
    if (req.method === 'GET' && url === '/healthz') {
      const live = opts.live?.() ?? true;
      return send(res, live ? 200 : 503, { ok: live });
    }
    if (req.method === 'GET' && url === '/readyz') {
      const ok = !draining && !leaving && (opts.ready?.() ?? true);
      return send(res, ok ? 200 : 503, { ready: ok });
    }
    if (req.method !== 'POST' || !url.startsWith('/rpc/')) {
      return sendError(res, new RpcError('NOT_FOUND', `no route ${req.method} ${url}: calls are POST /rpc/<method>`));
    }
    if (opts.secret !== undefined && !sameSecret(req.headers[TOKEN_HEADER], opts.secret)) {
      req.resume();
      return sendError(res, new RpcError('UNAUTHENTICATED', `missing or wrong ${TOKEN_HEADER}`));
    }
    if (draining) {
      req.resume();
      return sendError(res, new RpcError('UNAVAILABLE', 'the service is shutting down'));
    }
    const method = decodeURIComponent(url.slice('/rpc/'.length));
    const budgetHeader = req.headers[DEADLINE_HEADER];
    let deadlineMs: number | undefined;
    if (typeof budgetHeader === 'string') {
      deadlineMs = Number(budgetHeader);
      if (!Number.isFinite(deadlineMs)) {
        req.resume();
        return sendError(res, new RpcError('INVALID_ARGUMENT', `${DEADLINE_HEADER} must be a number of ms, got "${budgetHeader}"`));
      }
      if (deadlineMs <= 0) {
        req.resume();
        return sendError(res, new RpcError('DEADLINE_EXCEEDED', 'the caller\'s deadline had passed when the call arrived'));
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        send(res, 413, { code: 'INVALID_ARGUMENT', message: `request body over ${maxBody} bytes` }, { connection: 'close' });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let body: unknown;
      try {
        body = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendError(res, new RpcError('INVALID_ARGUMENT', 'request body is not JSON'));
      }
      calls.set(method, (calls.get(method) ?? 0) + 1);
      const ac = new AbortController();
      const timer = deadlineMs === undefined ? undefined : setTimeout(() => ac.abort(new DOMException('deadline', 'TimeoutError')), deadlineMs);
      res.on('close', () => {
        if (!res.writableFinished) ac.abort(new DOMException('client gone', 'AbortError'));
      });
      const serve = () => handler(method, body, { signal: ac.signal, deadlineMs });
      // tracing on: a SERVER span per call, continuing the caller's trace from its traceparent header
      (tracingOn() ? serverSpan(spanName(opts.service, method), req.headers, { 'rpc.method': method, ...(deadlineMs !== undefined ? { 'rpc.deadline_ms': deadlineMs } : {}) }, serve) : serve()).then(
        (out) => {
          clearTimeout(timer);
          if (ac.signal.aborted && ac.signal.reason?.name === 'TimeoutError') {
            return sendError(res, new RpcError('DEADLINE_EXCEEDED', `${method} ran past its ${deadlineMs} ms budget`));
          }
          send(res, 200, out ?? null);
        },
        (err) => {
          clearTimeout(timer);
          sendError(res, ac.signal.aborted && ac.signal.reason?.name === 'TimeoutError'
            ? new RpcError('DEADLINE_EXCEEDED', `${method} ran past its ${deadlineMs} ms budget`)
            : toRpcError(err));
        },
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  // RAG_BIND_HOST: where a container's service listens (0.0.0.0 in a pod, deploy/k8s); loopback otherwise
  const host = opts.host ?? (process.env.RAG_BIND_HOST || '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    calls,
    notReady: () => {
      leaving = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        draining = true;
        // Kept-alive connections that are busy now are closed as soon as their answer is out (else each would stay
        // open for the idle timeout, and close() with it); anything still open after `closeGraceMs` is cut.
        const sweep = setInterval(() => server.closeIdleConnections(), 25);
        const grace = setTimeout(() => server.closeAllConnections(), opts.closeGraceMs ?? 5_000);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(grace);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

export interface HttpRpcClientOptions {
  /** The service credential sent with every call (`x-internal-token`). */
  secret?: string;
  /** Kept-alive connections to the target; default 16. */
  connections?: number;
  /** Budget per call when the caller gives none, in ms; default none (the caller's signal only). */
  defaultDeadlineMs?: number;
  /** The callee's name in trace spans (`<service>/<method>`, shared/observe/tracing.ts); default none: `<method>`. */
  service?: string;
}

const spanName = (service: string | undefined, method: string) => (service === undefined ? method : `${service}/${method}`);

/**
 * undici looks at a request's signal only once its connection is up (nodejs/undici#386): a call waiting for a
 * connect to a host that vanished (its SYNs unanswered) outlived its deadline by the whole connect attempt (seconds;
 * shared/services/discovery-netns.test.ts). Settle at the abort; the late request fails or finishes on its own (a
 * late answer's body is dumped).
 */
function settleOnAbort<T extends { body: { dump(): Promise<void> } }>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.then((r) => r.body.dump().catch(() => {}), () => {});
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (r) => (signal.removeEventListener('abort', onAbort), resolve(r)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EHOSTUNREACH', 'ENETUNREACH']);

function codeOfStatus(status: number): RpcCode {
  if (status === 400 || status === 413 || status === 422) return 'INVALID_ARGUMENT';
  if (status === 401 || status === 403) return 'UNAUTHENTICATED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 499) return 'CANCELLED';
  if (status === 504) return 'DEADLINE_EXCEEDED';
  if (status === 503 || status === 429) return 'OVERLOADED';
  return 'INTERNAL';
}

/** An RpcClient for one HTTP RPC server (`baseUrl` like `http://127.0.0.1:41234`). */
export function httpRpcClient(baseUrl: string, opts: HttpRpcClientOptions = {}): RpcClient {
  const pool = new Pool(baseUrl, { connections: opts.connections ?? 16, keepAliveTimeout: 30_000 });
  const target = baseUrl;
  const { hostname, port } = new URL(baseUrl);
  const traced = <Res>(method: string, req: unknown, callOpts: CallOptions): Promise<Res> =>
    clientSpan(spanName(opts.service, method), { 'rpc.method': method, 'server.address': hostname, 'server.port': Number(port), ...(callOpts.deadlineMs !== undefined ? { 'rpc.deadline_ms': Math.floor(callOpts.deadlineMs) } : {}) }, () => invoke<Res>(method, req, callOpts));
  const invoke = async <Res>(method: string, req: unknown, callOpts: CallOptions): Promise<Res> => {
    const budget = callOpts.deadlineMs ?? opts.defaultDeadlineMs;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.secret !== undefined) headers[TOKEN_HEADER] = opts.secret;
    if (budget !== undefined) headers[DEADLINE_HEADER] = String(Math.max(0, Math.floor(budget)));
    injectContext(headers); // traceparent of the CLIENT span (tracing on), nothing otherwise
    const signals = [callOpts.signal, budget === undefined ? undefined : AbortSignal.timeout(Math.max(1, Math.ceil(budget)))].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    let res;
    try {
      res = await settleOnAbort(pool.request({ method: 'POST', path: `/rpc/${encodeURIComponent(method)}`, headers, body: JSON.stringify(req ?? {}), signal }), signal);
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      if (signal?.aborted) {
        const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
        throw new RpcError(timedOut ? 'DEADLINE_EXCEEDED' : 'CANCELLED', `${method} on ${target}: ${timedOut ? `no answer within ${budget} ms` : 'cancelled'}`, target);
      }
      const code = e.code ?? e.cause?.code;
      if (code !== undefined && UNAVAILABLE_CODES.has(code)) throw new RpcError('UNAVAILABLE', `${method} on ${target}: ${code}`, target);
      throw new RpcError('UNAVAILABLE', `${method} on ${target}: ${e.message}`, target);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      if (signal?.aborted) {
        const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
        throw new RpcError(timedOut ? 'DEADLINE_EXCEEDED' : 'CANCELLED', `${method} on ${target}: ${timedOut ? `no answer within ${budget} ms` : 'cancelled'}`, target);
      }
      throw new RpcError('UNAVAILABLE', `${method} on ${target}: ${(err as Error).message}`, target);
    }
    if (res.statusCode === 200) return JSON.parse(text) as Res;
    let body: { code?: RpcCode; message?: string; retryAfterMs?: number } = {};
    try {
      body = JSON.parse(text);
    } catch {
      /* not ours: keep the status */
    }
    const retryAfter = res.headers['retry-after'];
    const retryAfterMs = body.retryAfterMs ?? (typeof retryAfter === 'string' ? Number(retryAfter) * 1000 : undefined);
    const code = body.code && body.code in STATUS_OF ? body.code : codeOfStatus(res.statusCode);
    throw new RpcError(code, `${method} on ${target}: ${body.message ?? `HTTP ${res.statusCode}`}`, target, retryAfterMs);
  };
  return {
    target,
    call: <Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> =>
      tracingOn() ? traced<Res>(method, req, callOpts) : invoke<Res>(method, req, callOpts),
    close: () => pool.close(),
  };
}
