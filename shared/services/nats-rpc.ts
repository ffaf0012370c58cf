/**
 * RpcClient / RpcHandler over NATS request-reply (`@nats-io/transport-node`): a call is a message on the subject
 * `<prefix>.<method>` with a reply inbox; the service subscribes to `<prefix>.>` in a queue group, so any number of
 * instances share the calls with no load balancer in front (the broker picks one member per message). Same
 * interface and error codes as http-rpc.ts and grpc-rpc.ts.
 *
 * - **Payloads**: JSON bytes, or a `MethodCodec` per method (grpc-rpc.ts's, the same protobuf codec gRPC uses).
 * - **Credential**: the `x-internal-token` header, compared in constant time; missing or wrong → UNAUTHENTICATED.
 *   NATS has its own authentication and authorisation besides: a connection can need a user/password, a token, an
 *   NKey or a JWT (`connectOptions`), and the server's permissions decide which subjects an account may publish
 *   to or subscribe on. In production the broker's permissions are the first gate (only the gateway's account may
 *   publish to `shard.>`; a shard may not subscribe to the gateway's subjects) and the header is a second one that
 *   travels with the message. The local nats-server runs without authentication.
 * - **Deadline**: the budget is the request's timeout on the caller and an `x-deadline-ms` header for the callee,
 *   which aborts the handler's signal when it runs out. A reply that comes later is dropped by the caller's inbox.
 * - **Errors** come back as an empty reply with headers `x-rpc-code` / `x-rpc-message` (`x-retry-after-ms`).
 *   No subscriber on the subject (NATS's 503 "no responders"), a broker that cannot be reached or a closed
 *   connection → UNAVAILABLE; the request's timeout → DEADLINE_EXCEEDED.
 */
import { timingSafeEqual } from 'node:crypto';
import { connect, errors, headers as natsHeaders, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { jsonCodec, type Codecs } from './grpc-rpc.ts';
import { DEADLINE_HEADER, RpcError, TOKEN_HEADER, toRpcError, type CallOptions, type RpcClient, type RpcCode, type RpcHandler } from './rpc.ts';
import { rpcSpanName, serverSpan, traceHeaders, tracedClient, tracingOn } from '../observe/tracing.ts';

export const NATS_URL = (): string => process.env.NATS_URL || '127.0.0.1:4222';

const CODE_HEADER = 'x-rpc-code';
const MESSAGE_HEADER = 'x-rpc-message';
const RETRY_HEADER = 'x-retry-after-ms';
const CODES = new Set<RpcCode>(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELLED', 'UNAUTHENTICATED', 'INVALID_ARGUMENT', 'NOT_FOUND', 'OVERLOADED', 'INTERNAL']);
/** A caller without a budget still needs a request timeout in NATS. */
const DEFAULT_TIMEOUT_MS = 30_000;

interface Shared {
  /** An open connection to use (not closed by `close`); else one is opened from `servers` + `connectOptions`. */
  connection?: NatsConnection;
  /** Default NATS_URL or 127.0.0.1:4222. */
  servers?: string | string[];
  /** Authentication and the rest (user/pass, token, authenticator, name, …). */
  connectOptions?: ConnectionOptions;
  /** Methods with a codec of their own (both sides must agree); the rest are JSON. */
  codecs?: Codecs;
  /** The service credential (`x-internal-token` header). */
  secret?: string;
  /** The service's name in trace spans (`<service>/<method>`, shared/observe/tracing.ts); default none: `<method>`. */
  service?: string;
}

export interface NatsRpcClientOptions extends Shared {
  /** Subject prefix of the service: a call of `m` goes to `<subject>.<m>`. */
  subject: string;
  /** Budget per call when the caller gives none; default 30 s (NATS requests always have a timeout). */
  defaultDeadlineMs?: number;
}

export interface NatsRpcServerOptions extends Shared {
  subject: string;
  /** Queue group: instances in one group share the calls; default 'rpc'. */
  queue?: string;
}

export interface NatsRpcServer {
  readonly subject: string;
  readonly calls: Map<string, number>;
  /** Drain the subscription (in-flight calls answer), then close the connection if it is ours. */
  close(): Promise<void>;
}

/** undefined when a NATS server answers at `servers` within a second, else why not (for tests and benches to skip). */
export async function natsSkipReason(servers: string | string[] = NATS_URL()): Promise<string | undefined> {
  try {
    const nc = await connect({ servers, timeout: 1_000, reconnect: false });
    await nc.close();
    return undefined;
  } catch (err) {
    return `NATS unreachable at ${String(servers)} (${(err as Error).message}): start it with \`nats-server -js -a 127.0.0.1 &\` (or \`docker run -d -p 4222:4222 nats -js\`), or set NATS_URL`;
  }
}

function opener(opts: Shared): { get(): Promise<NatsConnection>; close(): Promise<void> } {
  let pending: Promise<NatsConnection> | undefined = opts.connection ? Promise.resolve(opts.connection) : undefined;
  const own = opts.connection === undefined;
  return {
    get() {
      pending ??= connect({ servers: opts.servers ?? NATS_URL(), ...opts.connectOptions });
      // a failed connect is not cached: the next call tries again
      return pending.catch((err) => {
        pending = undefined;
        throw err;
      });
    },
    async close() {
      if (!own || !pending) return;
      const nc = await pending.catch(() => undefined);
      if (nc && !nc.isClosed()) await nc.close();
    },
  };
}

function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

const EMPTY = new Uint8Array(0);

/** Serves `handler` on `<subject>.>`. Resolves once the subscription is registered with the server. */
export async function serveNatsRpc(handler: RpcHandler, opts: NatsRpcServerOptions): Promise<NatsRpcServer> {
  const conn = opener(opts);
  const nc = await conn.get();
  const calls = new Map<string, number>();
  const codecs = opts.codecs ?? {};
  const prefix = `${opts.subject}.`;

  const replyError = (msg: Msg, err: RpcError) => {
    const h = natsHeaders();
    h.set(CODE_HEADER, err.code);
    h.set(MESSAGE_HEADER, err.message.replace(/[\r\n]+/g, ' '));
    if (err.retryAfterMs !== undefined) h.set(RETRY_HEADER, String(err.retryAfterMs));
    msg.respond(EMPTY, { headers: h });
  };

  const serve = (msg: Msg) => {
    if (!msg.reply) return; // a publish, not a request: nobody waits for an answer
    const method = msg.subject.slice(prefix.length);
    if (opts.secret !== undefined && !sameSecret(msg.headers?.get(TOKEN_HEADER) ?? '', opts.secret)) {
      return replyError(msg, new RpcError('UNAUTHENTICATED', `missing or wrong ${TOKEN_HEADER}`));
    }
    let deadlineMs: number | undefined;
    const budget = msg.headers?.get(DEADLINE_HEADER);
    if (budget) {
      deadlineMs = Number(budget);
      if (!Number.isFinite(deadlineMs)) return replyError(msg, new RpcError('INVALID_ARGUMENT', `${DEADLINE_HEADER} must be a number of ms, got "${budget}"`));
      if (deadlineMs <= 0) return replyError(msg, new RpcError('DEADLINE_EXCEEDED', "the caller's deadline had passed when the call arrived"));
    }
    const codec = Object.hasOwn(codecs, method) ? codecs[method] : jsonCodec;
    let req: unknown;
    try {
      req = codec.decodeRequest(msg.data);
    } catch (err) {
      return replyError(msg, new RpcError('INVALID_ARGUMENT', `${method}: request does not decode: ${(err as Error).message}`));
    }
    calls.set(method, (calls.get(method) ?? 0) + 1);
    const ac = new AbortController();
    const timer = deadlineMs === undefined ? undefined : setTimeout(() => ac.abort(new DOMException('deadline', 'TimeoutError')), deadlineMs);
    const late = () => new RpcError('DEADLINE_EXCEEDED', `${method} ran past its ${deadlineMs} ms budget`);
    const run = () => handler(method, req, { signal: ac.signal, deadlineMs });
    // tracing on: a SERVER span continuing the caller's trace from the traceparent header
    const traced = () => serverSpan(rpcSpanName(opts.service, method), { traceparent: msg.headers?.get('traceparent'), tracestate: msg.headers?.get('tracestate') }, { 'rpc.system': 'nats', 'rpc.method': method }, run);
    (tracingOn() ? traced() : run()).then(
      (out) => {
        clearTimeout(timer);
        if (ac.signal.aborted) return replyError(msg, late());
        let bytes: Uint8Array;
        try {
          bytes = codec.encodeResponse(out ?? null);
        } catch (err) {
          return replyError(msg, new RpcError('INTERNAL', `${method}: response does not encode: ${(err as Error).message}`));
        }
        msg.respond(bytes);
      },
      (err) => {
        clearTimeout(timer);
        replyError(msg, ac.signal.aborted ? late() : toRpcError(err));
      },
    );
  };

  const sub: Subscription = nc.subscribe(`${opts.subject}.>`, {
    queue: opts.queue ?? 'rpc',
    callback: (err, msg) => {
      if (!err) serve(msg);
    },
  });
  await nc.flush(); // the server has the subscription: a request sent now finds a responder
  return {
    subject: opts.subject,
    calls,
    async close() {
      if (!sub.isClosed()) await sub.drain().catch(() => undefined);
      await conn.close();
    },
  };
}

/**
 * An RpcClient for the service on `<subject>.>`. Connects at the first call (a broker that is down is UNAVAILABLE
 * for that call, and the next call tries again); one connection carries every call, replies come back on one
 * shared inbox subscription.
 */
export function natsRpcClient(opts: NatsRpcClientOptions): RpcClient {
  const conn = opener(opts);
  const codecs = opts.codecs ?? {};
  const target = `nats:${opts.subject}`;
  // each call a CLIENT span when tracing is on; its traceparent goes in the message headers
  return tracedClient(opts.service, {
    target,
    async call<Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> {
      const budget = callOpts.deadlineMs ?? opts.defaultDeadlineMs;
      const signal = callOpts.signal;
      const aborted = () => {
        const timedOut = (signal?.reason as Error | undefined)?.name === 'TimeoutError';
        return new RpcError(timedOut ? 'DEADLINE_EXCEEDED' : 'CANCELLED', `${method} on ${target}: ${timedOut ? 'the deadline passed' : 'cancelled'}`, target);
      };
      if (signal?.aborted) throw aborted();
      if (budget !== undefined && budget <= 0) throw new RpcError('DEADLINE_EXCEEDED', `${method} on ${target}: the budget was spent before the call`, target);
      if (!/^[\w.-]+$/.test(method)) throw new RpcError('INVALID_ARGUMENT', `${method} is not a method name a subject can carry ([A-Za-z0-9_.-])`, target);
      const codec = Object.hasOwn(codecs, method) ? codecs[method] : jsonCodec;
      let bytes: Uint8Array;
      try {
        bytes = codec.encodeRequest(req);
      } catch (err) {
        throw new RpcError('INVALID_ARGUMENT', `${method} on ${target}: request does not encode: ${(err as Error).message}`, target);
      }
      let nc: NatsConnection;
      try {
        nc = await conn.get();
      } catch (err) {
        throw new RpcError('UNAVAILABLE', `${method} on ${target}: no connection to NATS: ${(err as Error).message}`, target);
      }
      const h = natsHeaders();
      if (opts.secret !== undefined) h.set(TOKEN_HEADER, opts.secret);
      if (budget !== undefined) h.set(DEADLINE_HEADER, String(Math.max(0, Math.floor(budget))));
      for (const [k, v] of Object.entries(traceHeaders())) h.set(k, v);
      const timeout = Math.max(1, budget ?? DEFAULT_TIMEOUT_MS);
      let msg: Msg;
      try {
        const request = nc.request(`${opts.subject}.${method}`, bytes, { timeout, headers: h });
        if (!signal) msg = await request;
        else {
          let onAbort: () => void = () => {};
          const abort = new Promise<never>((_, reject) => {
            onAbort = () => reject(aborted());
            signal.addEventListener('abort', onAbort, { once: true });
          });
          try {
            msg = await Promise.race([request, abort]);
          } finally {
            signal.removeEventListener('abort', onAbort);
            request.catch(() => undefined); // a reply (or timeout) after the abort is nobody's
          }
        }
      } catch (err) {
        if (err instanceof RpcError) throw err;
        const e = err as Error;
        if (e instanceof errors.RequestError && e.isNoResponders()) {
          throw new RpcError('UNAVAILABLE', `${method} on ${target}: no service subscribed to ${opts.subject}.${method}`, target);
        }
        if (e instanceof errors.TimeoutError || (e instanceof errors.RequestError && e.cause instanceof errors.TimeoutError)) {
          throw new RpcError('DEADLINE_EXCEEDED', `${method} on ${target}: no answer within ${timeout} ms`, target);
        }
        throw new RpcError('UNAVAILABLE', `${method} on ${target}: ${e.message}`, target);
      }
      const code = msg.headers?.get(CODE_HEADER) as RpcCode | undefined;
      if (code) {
        const retry = msg.headers?.get(RETRY_HEADER);
        throw new RpcError(CODES.has(code) ? code : 'INTERNAL', `${method} on ${target}: ${msg.headers?.get(MESSAGE_HEADER) || code}`, target, retry ? Number(retry) : undefined);
      }
      try {
        return codec.decodeResponse(msg.data) as Res;
      } catch (err) {
        throw new RpcError('INTERNAL', `${method} on ${target}: response does not decode: ${(err as Error).message}`, target);
      }
    },
    close: () => conn.close(),
  }, { 'rpc.system': 'nats' });
}
