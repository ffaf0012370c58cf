/**
 * RpcClient / RpcHandler over gRPC (`@grpc/grpc-js`: HTTP/2, one multiplexed connection per target, length-prefixed
 * binary messages). Same interface and error codes as http-rpc.ts, so a caller switches transport by configuration.
 *
 * - **Payloads.** grpc-js moves bytes; a `MethodCodec` per method turns the request and response into bytes. The hot
 *   method gets a protobuf codec (t4/02's `searchCodec`, messages in proto/shard.proto): binary framing, float arrays
 *   packed, no JSON text to build or parse. **Every other method falls back to JSON bytes** (`jsonCodec`) on one
 *   generic path, `/rag.rpc.Rpc/Call`, with the method name in the `x-rpc-method` metadata: a service need not
 *   declare its methods up front, which grpc-js otherwise requires (an undeclared path answers UNIMPLEMENTED).
 *   A method with a codec has a path of its own, `/rag.rpc.Rpc/<method>`; both sides must give the same codecs.
 * - **Credential.** The `x-internal-token` metadata, compared in constant time; missing or wrong → UNAUTHENTICATED,
 *   and the handler never runs. (mTLS through `grpc.ServerCredentials.createSsl` is the production alternative.)
 * - **Deadline.** The caller's budget becomes the gRPC deadline (`grpc-timeout` on the wire, a relative time, so the
 *   two clocks need not agree). The server hands the handler what is left (`ctx.deadlineMs`) and aborts its signal
 *   when it runs out; grpc-js itself answers DEADLINE_EXCEEDED at that moment on both sides.
 * - **Errors** map to gRPC status codes and back:
 *
 *     RpcCode            gRPC status          RpcCode            gRPC status
 *     INVALID_ARGUMENT   3 INVALID_ARGUMENT   OVERLOADED         8 RESOURCE_EXHAUSTED (+ retry-after-ms)
 *     UNAUTHENTICATED    16 UNAUTHENTICATED   UNAVAILABLE        14 UNAVAILABLE (no connection, draining)
 *     NOT_FOUND          5 NOT_FOUND          DEADLINE_EXCEEDED  4 DEADLINE_EXCEEDED
 *     INTERNAL           13 INTERNAL          CANCELLED          1 CANCELLED
 *
 *   and, coming back, UNIMPLEMENTED → NOT_FOUND, PERMISSION_DENIED → UNAUTHENTICATED, OUT_OF_RANGE and
 *   FAILED_PRECONDITION → INVALID_ARGUMENT, anything else → INTERNAL. A request the codec cannot decode is
 *   INVALID_ARGUMENT (grpc-js would say INTERNAL if its own deserializer threw, so the codec runs in the handler).
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { RpcError, TOKEN_HEADER, toRpcError, type CallOptions, type RpcClient, type RpcCode, type RpcHandler } from './rpc.ts';
import { rpcSpanName, serverSpan, traceHeaders, tracedClient, tracingOn } from '../observe/tracing.ts';

/** How one method's request and response become bytes, on both sides of the wire. */
export interface MethodCodec<Req = unknown, Res = unknown> {
  encodeRequest(req: Req): Uint8Array;
  decodeRequest(bytes: Uint8Array): Req;
  encodeResponse(res: Res): Uint8Array;
  decodeResponse(bytes: Uint8Array): Res;
}

/** JSON text as UTF-8 bytes: what every method without a codec of its own is carried as. */
export const jsonCodec: MethodCodec = {
  encodeRequest: (req) => Buffer.from(JSON.stringify(req ?? {})),
  decodeRequest: (bytes) => (bytes.length === 0 ? {} : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))),
  encodeResponse: (res) => Buffer.from(JSON.stringify(res ?? null)),
  decodeResponse: (bytes) => JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')),
};

export type Codecs = Readonly<Record<string, MethodCodec<any, any>>>;

/** The metadata key naming the method on the generic path. */
export const METHOD_METADATA = 'x-rpc-method';
const SERVICE = 'rag.rpc.Rpc';
const GENERIC = 'Call';
const RETRY_AFTER = 'retry-after-ms';

const pathOf = (method: string, codecs: Codecs | undefined): string =>
  codecs && Object.hasOwn(codecs, method) ? `/${SERVICE}/${method}` : `/${SERVICE}/${GENERIC}`;

const STATUS_OF: Record<RpcCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  CANCELLED: grpc.status.CANCELLED,
  INTERNAL: grpc.status.INTERNAL,
  OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
};

/** The RpcCode a gRPC status means to a caller. */
export function codeOfStatus(s: grpc.status): RpcCode {
  switch (s) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
    case grpc.status.FAILED_PRECONDITION:
      return 'INVALID_ARGUMENT';
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return 'UNAUTHENTICATED';
    case grpc.status.NOT_FOUND:
    case grpc.status.UNIMPLEMENTED:
      return 'NOT_FOUND';
    case grpc.status.CANCELLED:
      return 'CANCELLED';
    case grpc.status.DEADLINE_EXCEEDED:
      return 'DEADLINE_EXCEEDED';
    case grpc.status.RESOURCE_EXHAUSTED:
      return 'OVERLOADED';
    case grpc.status.UNAVAILABLE:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** grpc-js method definitions that pass bytes through: the codecs run in our code, where their errors get our codes. */
function rawMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  };
}

function sameSecret(given: grpc.MetadataValue | undefined, secret: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface GrpcRpcServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** The service credential every call must carry (`x-internal-token` metadata); undefined accepts any. */
  secret?: string;
  /** Methods carried by a codec of their own (the rest: JSON bytes on the generic path). */
  codecs?: Codecs;
  /** Largest message in bytes, each way; default grpc-js's 4 MiB. */
  maxMessageBytes?: number;
  /** The service's name in trace spans (`<service>/<method>`, shared/observe/tracing.ts); default none: `<method>`. */
  service?: string;
}

export interface GrpcRpcServer {
  /** `host:port`, what `grpcRpcClient` takes. */
  readonly address: string;
  readonly port: number;
  /** Calls that reached the handler, by method. */
  readonly calls: Map<string, number>;
  /** Stop accepting; in-flight calls finish (then connections close). */
  close(): Promise<void>;
}

/** Serves `handler` over gRPC. Resolves once it listens. */
export async function serveGrpcRpc(handler: RpcHandler, opts: GrpcRpcServerOptions = {}): Promise<GrpcRpcServer> {
  const calls = new Map<string, number>();
  const codecs = opts.codecs ?? {};
  const server = new grpc.Server({
    ...(opts.maxMessageBytes ? { 'grpc.max_receive_message_length': opts.maxMessageBytes, 'grpc.max_send_message_length': opts.maxMessageBytes } : {}),
  });

  const fail = (callback: grpc.sendUnaryData<Buffer>, err: RpcError) => {
    const metadata = new grpc.Metadata();
    if (err.retryAfterMs !== undefined) metadata.set(RETRY_AFTER, String(err.retryAfterMs));
    callback({ code: STATUS_OF[err.code], details: err.message, metadata });
  };

  const serve = (fixed: string | undefined) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    if (opts.secret !== undefined && !sameSecret(call.metadata.get(TOKEN_HEADER)[0], opts.secret)) {
      return fail(callback, new RpcError('UNAUTHENTICATED', `missing or wrong ${TOKEN_HEADER}`));
    }
    const named = call.metadata.get(METHOD_METADATA)[0];
    const method = fixed ?? (typeof named === 'string' ? named : undefined);
    if (method === undefined) return fail(callback, new RpcError('INVALID_ARGUMENT', `a call on the generic path needs ${METHOD_METADATA} metadata`));
    const codec = fixed === undefined ? jsonCodec : codecs[fixed];
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    const deadlineMs = Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
    if (deadlineMs === 0) return fail(callback, new RpcError('DEADLINE_EXCEEDED', "the caller's deadline had passed when the call arrived"));
    let req: unknown;
    try {
      req = codec.decodeRequest(call.request);
    } catch (err) {
      return fail(callback, new RpcError('INVALID_ARGUMENT', `${method}: request does not decode: ${(err as Error).message}`));
    }
    calls.set(method, (calls.get(method) ?? 0) + 1);
    const ac = new AbortController();
    const timer = deadlineMs === undefined ? undefined : setTimeout(() => ac.abort(new DOMException('deadline', 'TimeoutError')), deadlineMs);
    call.on('cancelled', () => ac.abort(new DOMException('client gone', 'AbortError')));
    const timedOut = () => ac.signal.aborted && (ac.signal.reason as Error | undefined)?.name === 'TimeoutError';
    const run = () => handler(method, req, { signal: ac.signal, deadlineMs });
    // tracing on: a SERVER span continuing the caller's trace from the traceparent metadata
    (tracingOn() ? serverSpan(rpcSpanName(opts.service, method), call.metadata.getMap() as Record<string, string>, { 'rpc.system': 'grpc', 'rpc.method': method }, run) : run()).then(
      (out) => {
        clearTimeout(timer);
        if (timedOut()) return fail(callback, new RpcError('DEADLINE_EXCEEDED', `${method} ran past its ${deadlineMs} ms budget`));
        let bytes: Uint8Array;
        try {
          bytes = codec.encodeResponse(out ?? null);
        } catch (err) {
          return fail(callback, new RpcError('INTERNAL', `${method}: response does not encode: ${(err as Error).message}`));
        }
        callback(null, asBuffer(bytes));
      },
      (err) => {
        clearTimeout(timer);
        fail(callback, timedOut() ? new RpcError('DEADLINE_EXCEEDED', `${method} ran past its ${deadlineMs} ms budget`) : toRpcError(err));
      },
    );
  };

  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = { [GENERIC]: rawMethod(`/${SERVICE}/${GENERIC}`) };
  const impl: grpc.UntypedServiceImplementation = { [GENERIC]: serve(undefined) };
  for (const method of Object.keys(codecs)) {
    definition[method] = rawMethod(`/${SERVICE}/${method}`);
    impl[method] = serve(method);
  }
  server.addService(definition as grpc.ServiceDefinition, impl);
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `${host}:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}

export interface GrpcRpcClientOptions {
  /** The service credential sent with every call (`x-internal-token` metadata). */
  secret?: string;
  /** Methods carried by a codec of their own; the server must have the same. */
  codecs?: Codecs;
  /** Budget per call when the caller gives none, in ms; default none. */
  defaultDeadlineMs?: number;
  /** The callee's name in trace spans (`<service>/<method>`, shared/observe/tracing.ts); default none: `<method>`. */
  service?: string;
  /** Largest message in bytes, each way; default grpc-js's 4 MiB to receive. */
  maxMessageBytes?: number;
  /** Passed to the grpc-js channel (keepalive, load-balancing policy, …). */
  channelOptions?: grpc.ChannelOptions;
}

/**
 * An RpcClient for one gRPC server (`address` like `127.0.0.1:41234`). One channel: one HTTP/2 connection that
 * carries every call at once (streams), opened at the first call and kept.
 */
export function grpcRpcClient(address: string, opts: GrpcRpcClientOptions = {}): RpcClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    ...(opts.maxMessageBytes ? { 'grpc.max_receive_message_length': opts.maxMessageBytes, 'grpc.max_send_message_length': opts.maxMessageBytes } : {}),
    ...opts.channelOptions,
  });
  const codecs = opts.codecs ?? {};
  const target = address;
  // each call a CLIENT span when tracing is on; its traceparent goes in the metadata
  return tracedClient(opts.service, {
    target,
    call<Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> {
      const budget = callOpts.deadlineMs ?? opts.defaultDeadlineMs;
      const own = Object.hasOwn(codecs, method);
      const codec = own ? codecs[method] : jsonCodec;
      const signal = callOpts.signal;
      if (signal?.aborted) return Promise.reject(abortError(signal, method, target, budget));
      if (budget !== undefined && budget <= 0) {
        return Promise.reject(new RpcError('DEADLINE_EXCEEDED', `${method} on ${target}: the budget was spent before the call`, target));
      }
      let bytes: Uint8Array;
      try {
        bytes = codec.encodeRequest(req);
      } catch (err) {
        return Promise.reject(new RpcError('INVALID_ARGUMENT', `${method} on ${target}: request does not encode: ${(err as Error).message}`, target));
      }
      const metadata = new grpc.Metadata();
      if (opts.secret !== undefined) metadata.set(TOKEN_HEADER, opts.secret);
      if (!own) metadata.set(METHOD_METADATA, method);
      for (const [k, v] of Object.entries(traceHeaders())) metadata.set(k, v);
      const options: grpc.CallOptions = budget === undefined ? {} : { deadline: Date.now() + budget };
      return new Promise<Res>((resolve, reject) => {
        const onAbort = () => call.cancel();
        const call = client.makeUnaryRequest(pathOf(method, codecs), (b: Buffer) => b, (b: Buffer) => b, asBuffer(bytes), metadata, options, (err, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) {
            if (signal?.aborted) return reject(abortError(signal, method, target, budget));
            const after = err.metadata?.get(RETRY_AFTER)[0];
            const code = codeOfStatus(err.code);
            const detail = code === 'DEADLINE_EXCEEDED' && budget !== undefined ? `no answer within ${budget} ms (${err.details})` : err.details;
            return reject(new RpcError(code, `${method} on ${target}: ${detail}`, target, after === undefined ? undefined : Number(after)));
          }
          try {
            resolve(codec.decodeResponse(res!) as Res);
          } catch (e) {
            reject(new RpcError('INTERNAL', `${method} on ${target}: response does not decode: ${(e as Error).message}`, target));
          }
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close: async () => client.close(),
  }, { 'rpc.system': 'grpc' });
}

function abortError(signal: AbortSignal, method: string, target: string, budget: number | undefined): RpcError {
  const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  return new RpcError(timedOut ? 'DEADLINE_EXCEEDED' : 'CANCELLED', `${method} on ${target}: ${timedOut ? `no answer within ${budget ?? '?'} ms` : 'cancelled'}`, target);
}
