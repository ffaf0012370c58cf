/**
 * Distributed tracing for the split services (OpenTelemetry, W3C trace context): one trace per client request,
 * from the gateway's `POST /v1/query` through the embed call and the fan-out to every shard, each hop a span whose
 * parent is the caller's span. The trace id and the caller's span id cross every hop in the `traceparent` header
 * (and `tracestate`), so a request that arrives with a `traceparent` of its own continues the client's trace.
 *
 *     gateway   POST /v1/query                      SERVER   (http.response.status_code, rag.partial, rag.degraded)
 *     gateway   ├─ gateway.embed                    INTERNAL (its budget; rag.degraded = bm25-only when it failed)
 *     gateway   │  └─ embedder/embed                CLIENT   (server.address, server.port, rpc.deadline_ms)
 *     embedder  │     └─ embedder/embed             SERVER
 *     gateway   └─ gateway.fanout                   INTERNAL (rag.shards, rag.missing_shards)
 *     gateway      ├─ shard-0/search                CLIENT
 *     shard 0/2    │  └─ shard-0/search             SERVER
 *     gateway      └─ shard-1/search                CLIENT …
 *
 * **Off unless configured, and then (almost) free.** Nothing of the SDK is even loaded until `initTracing` finds a
 * configuration; every helper below starts with one check of a module variable and calls straight through when
 * tracing is off. `shared/observe/tracing.bench.ts` measures one HTTP RPC call off, on and sampled, on and not sampled.
 *
 * **Configured by the standard environment** (the same variables every OpenTelemetry SDK reads), read by
 * `tracingConfigFromEnv`; the services call `initTracingFromEnv` at start (`serviceMain`, shard-service.ts):
 *
 *     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   the full URL spans are POSTed to (OTLP/HTTP, JSON), e.g.
 *                                          http://127.0.0.1:4318/v1/traces
 *     OTEL_EXPORTER_OTLP_ENDPOINT          the collector's base URL; `/v1/traces` is appended. Either one turns tracing on
 *     OTEL_TRACES_EXPORTER                 otlp (default when an endpoint is set) | console (one line per span on
 *                                          stderr, no collector needed) | none (off)
 *     OTEL_SDK_DISABLED=true               off, whatever else is set
 *     OTEL_SERVICE_NAME                    the service's name; default rag-gateway, rag-shard, rag-embedder… (leave it
 *                                          unset for `npm run t4:up`: every service would get the same name)
 *     OTEL_TRACES_SAMPLER (+ _ARG)         parentbased_always_on (default) | parentbased_traceidratio (_ARG: the
 *                                          ratio, default 1) | traceidratio | always_on | always_off | parentbased_always_off
 *     OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, …   read by the SDK's batch processor and exporter themselves
 *
 * Only OTLP over HTTP with JSON bodies is built in (`@opentelemetry/exporter-trace-otlp-http`): an
 * OTEL_EXPORTER_OTLP_PROTOCOL of `grpc` or `http/protobuf` is refused with an error at start. The services'
 * sampler is parent-based by default: a shard samples what the gateway sampled, so a trace is whole or absent.
 */
import type { Attributes, Context, Span, TextMapGetter, TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RagError } from '../errors.ts';
import type { CallOptions, RpcClient } from '../services/rpc.ts';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

export interface TracingConfig {
  /** `service.name` of every span this process makes. */
  serviceName: string;
  /** `service.instance.id` (e.g. "shard 1/2"); default none. */
  instance?: string;
  /** Where spans go: an OTLP/HTTP traces URL (…/v1/traces), `'console'`, or an exporter (tests: InMemorySpanExporter). */
  exporter: string | 'console' | SpanExporter;
  /** Default 'parentbased_always_on'. */
  sampler?: SamplerName;
  /** The ratio of the `*traceidratio` samplers, in [0, 1]; default 1. */
  ratio?: number;
  /**
   * 'batch' (default): spans are queued and exported in the background (OTEL_BSP_* tune it); 'simple': each span is
   * exported as it ends (tests with an in-memory exporter, so a span is there as soon as its request answered).
   */
  processor?: 'batch' | 'simple';
}

type Env = Record<string, string | undefined>;

/**
 * The tracing configuration the environment asks for, or undefined when tracing is off (no endpoint and no
 * exporter set, `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`). Throws a RagError for a value it cannot use.
 */
export function tracingConfigFromEnv(defaultServiceName: string, env: Env = process.env, instance?: string): TracingConfig | undefined {
  const v = (name: string) => {
    const x = env[name]?.trim();
    return x === undefined || x === '' ? undefined : x;
  };
  if (v('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const kind = v('OTEL_TRACES_EXPORTER')?.toLowerCase();
  const tracesUrl = v('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseUrl = v('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (kind === 'none') return undefined;
  if (kind !== undefined && kind !== 'otlp' && kind !== 'console') {
    throw new RagError('INVALID_INPUT', `OTEL_TRACES_EXPORTER=${kind}: expected otlp, console or none`);
  }
  if (kind === undefined && tracesUrl === undefined && baseUrl === undefined) return undefined;
  const protocol = v('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? v('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (kind !== 'console' && protocol !== undefined && protocol !== 'http/json') {
    throw new RagError('INVALID_INPUT', `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: this build exports OTLP over HTTP as JSON only (set http/json or leave it unset)`);
  }
  let exporter: string;
  if (kind === 'console') exporter = 'console';
  else {
    exporter = tracesUrl ?? `${(baseUrl ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`;
    let url: URL;
    try {
      url = new URL(exporter);
    } catch {
      throw new RagError('INVALID_INPUT', `the OTLP traces endpoint "${exporter}" is not a URL (set OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4318)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RagError('INVALID_INPUT', `the OTLP traces endpoint "${exporter}" must be http(s)://…`);
    }
  }
  const samplerName = (v('OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on') as SamplerName;
  if (!SAMPLERS.includes(samplerName)) {
    throw new RagError('INVALID_INPUT', `OTEL_TRACES_SAMPLER=${samplerName}: expected one of ${SAMPLERS.join(', ')}`);
  }
  const arg = v('OTEL_TRACES_SAMPLER_ARG');
  const ratio = arg === undefined ? 1 : Number(arg);
  if (samplerName.endsWith('traceidratio') && !(ratio >= 0 && ratio <= 1)) {
    throw new RagError('INVALID_INPUT', `OTEL_TRACES_SAMPLER_ARG=${arg}: the ratio must be a number in [0, 1]`);
  }
  return { serviceName: v('OTEL_SERVICE_NAME') ?? defaultServiceName, ...(instance !== undefined ? { instance } : {}), exporter, sampler: samplerName, ratio };
}

// ---------------------------------------------------------------------------------------------------------------
// The process's tracer (undefined: tracing is off, and every helper calls straight through)

interface Active {
  tracer: Tracer;
  propagator: TextMapPropagator;
  api: typeof import('@opentelemetry/api');
  shutdown(): Promise<void>;
  flush(): Promise<void>;
  config: TracingConfig;
}

let T: Active | undefined;
let contextManagerSet = false;

/** True when this process records spans (a configuration was given); one variable read. */
export function tracingOn(): boolean {
  return T !== undefined;
}

/** What `initTracing` set up, for messages: undefined when tracing is off. */
export function tracingConfig(): TracingConfig | undefined {
  return T?.config;
}

/**
 * Starts tracing with `config` (replacing any earlier set-up, whose spans are flushed first); undefined turns it
 * off. Loads the SDK only here, so a process that never traces never loads it.
 */
export async function initTracing(config: TracingConfig | undefined): Promise<boolean> {
  await shutdownTracing();
  if (config === undefined) return false;
  const [api, core, base, resources, asyncHooks] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
  ]);
  const ratio = config.ratio ?? 1;
  const sampler = (() => {
    switch (config.sampler ?? 'parentbased_always_on') {
      case 'always_on':
        return new base.AlwaysOnSampler();
      case 'always_off':
        return new base.AlwaysOffSampler();
      case 'traceidratio':
        return new base.TraceIdRatioBasedSampler(ratio);
      case 'parentbased_always_off':
        return new base.ParentBasedSampler({ root: new base.AlwaysOffSampler() });
      case 'parentbased_traceidratio':
        return new base.ParentBasedSampler({ root: new base.TraceIdRatioBasedSampler(ratio) });
      default:
        return new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() });
    }
  })();
  let exporter: SpanExporter;
  if (typeof config.exporter !== 'string') exporter = config.exporter;
  else if (config.exporter === 'console') exporter = stderrExporter();
  else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter({ url: config.exporter });
  }
  const processor = (config.processor ?? 'batch') === 'simple' ? new base.SimpleSpanProcessor(exporter) : new base.BatchSpanProcessor(exporter);
  const provider = new base.BasicTracerProvider({
    sampler,
    spanProcessors: [processor],
    resource: resources.resourceFromAttributes({
      'service.name': config.serviceName,
      ...(config.instance !== undefined ? { 'service.instance.id': config.instance } : {}),
      'process.pid': process.pid,
    }),
  });
  // The active span follows the request through awaits (AsyncLocalStorage). Set once per process: a later
  // `initTracing` (tests) keeps the manager that is there.
  if (!contextManagerSet) contextManagerSet = api.context.setGlobalContextManager(new asyncHooks.AsyncLocalStorageContextManager().enable());
  T = {
    tracer: provider.getTracer('rag-lab'),
    propagator: new core.W3CTraceContextPropagator(),
    api,
    config,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
  return true;
}

/**
 * `OTEL_TRACES_EXPORTER=console`: one line per span on stderr (a supervised service's stdout goes nowhere; its
 * stderr is in the supervisor's log, prefixed with the service's name):
 *
 *     span 4bf92f3577b34da6a3ce929d0e0e4736 a1b2c3d4e5f60718 ← 00f067aa0ba902b7 SERVER POST /v1/query 12.3 ms
 */
function stderrExporter(): SpanExporter {
  const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
  return {
    export(spans, done) {
      let out = '';
      for (const s of spans) {
        const ms = s.duration[0] * 1e3 + s.duration[1] / 1e6;
        const c = s.spanContext();
        out += `span ${c.traceId} ${c.spanId} ← ${s.parentSpanContext?.spanId ?? '-'} ${KINDS[s.kind] ?? s.kind} ${s.name} ${ms.toFixed(1)} ms${s.status.code === 2 ? ` ERROR ${s.status.message ?? ''}` : ''}\n`;
      }
      process.stderr.write(out);
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
}

/** `initTracing(tracingConfigFromEnv(...))`: what every service process does at start. */
export function initTracingFromEnv(defaultServiceName: string, instance?: string, env: Env = process.env): Promise<boolean> {
  return initTracing(tracingConfigFromEnv(defaultServiceName, env, instance));
}

/** Exports what is queued (a process about to exit calls this so its last spans are not lost). */
export async function flushTracing(): Promise<void> {
  await T?.flush();
}

/** Flushes and stops tracing; the helpers call straight through again. */
export async function shutdownTracing(): Promise<void> {
  const t = T;
  T = undefined;
  await t?.shutdown().catch(() => {});
}

// ---------------------------------------------------------------------------------------------------------------
// Spans

type Headers = Record<string, string | string[] | undefined>;

const headerGetter: TextMapGetter<Headers> = {
  keys: (h) => Object.keys(h),
  get: (h, key) => h[key] ?? h[key.toLowerCase()],
};

export type SpanKindName = 'internal' | 'server' | 'client';

function finish(t: Active, span: Span, err?: unknown): void {
  if (err !== undefined) {
    const e = err as { code?: unknown; name?: string; message?: string };
    span.setAttribute('error.type', typeof e?.code === 'string' ? e.code : (e?.name ?? 'Error'));
    if (err instanceof Error) span.recordException(err);
    span.setStatus({ code: t.api.SpanStatusCode.ERROR, message: e?.message ?? String(err) });
  }
  span.end();
}

function run<R>(t: Active, span: Span, parent: Context, fn: (span: Span | undefined) => Promise<R>): Promise<R> {
  return t.api.context.with(t.api.trace.setSpan(parent, span), () => {
    let p: Promise<R>;
    try {
      p = fn(span);
    } catch (err) {
      finish(t, span, err);
      throw err;
    }
    return p.then(
      (r) => {
        finish(t, span);
        return r;
      },
      (err) => {
        finish(t, span, err);
        throw err;
      },
    );
  });
}

const KIND = { internal: 0, server: 1, client: 2 } as const; // api.SpanKind's values

/**
 * Runs `fn` in a new span, a child of the active one (or of `parent`), ended when `fn` settles; a rejection is
 * recorded on it (status ERROR, `error.type` = the error's code). Tracing off: `fn(undefined)`, nothing else.
 */
export function inSpan<R>(name: string, attrs: Attributes, fn: (span: Span | undefined) => Promise<R>, kind: SpanKindName = 'internal', parent?: Context): Promise<R> {
  const t = T;
  if (t === undefined) return fn(undefined);
  const ctx = parent ?? t.api.context.active();
  const span = t.tracer.startSpan(name, { kind: KIND[kind], attributes: attrs }, ctx);
  return run(t, span, ctx, fn);
}

/** The context an incoming request carries (`traceparent`, `tracestate`); the root context when it has none. */
export function extractContext(headers: Headers): Context | undefined {
  const t = T;
  if (t === undefined) return undefined;
  return t.propagator.extract(t.api.ROOT_CONTEXT, headers, headerGetter);
}

/** A SERVER span continuing the trace of the incoming `headers` (a new trace when they carry none) around `fn`. */
export function serverSpan<R>(name: string, headers: Headers, attrs: Attributes, fn: (span: Span | undefined) => Promise<R>): Promise<R> {
  const t = T;
  if (t === undefined) return fn(undefined);
  return inSpan(name, attrs, fn, 'server', extractContext(headers));
}

/** A CLIENT span around an outgoing call; `fn` runs with it active, so `injectContext` writes its traceparent. */
export function clientSpan<R>(name: string, attrs: Attributes, fn: (span: Span | undefined) => Promise<R>): Promise<R> {
  return inSpan(name, attrs, fn, 'client');
}

/** Writes the active span's `traceparent` (and `tracestate`) into outgoing headers; nothing when off or no span. */
export function injectContext(headers: Record<string, string>): void {
  const t = T;
  if (t === undefined) return;
  t.propagator.inject(t.api.context.active(), headers, { set: (h, k, val) => (h[k] = val) });
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The headers `injectContext` would write, for a transport with a header type of its own (gRPC metadata, NATS). */
export function traceHeaders(): Readonly<Record<string, string>> {
  if (T === undefined) return NO_HEADERS;
  const h: Record<string, string> = {};
  injectContext(h);
  return h;
}

/** A span's name for a call of `method` on `service`: `<service>/<method>`, or `<method>` for an unnamed service. */
export const rpcSpanName = (service: string | undefined, method: string): string => (service === undefined ? method : `${service}/${method}`);

/**
 * `inner` with each call a CLIENT span (when tracing is on, checked per call) named `<service>/<method>`. The
 * transport under it must send the context along (`traceHeaders()` into its metadata or headers).
 */
export function tracedClient(service: string | undefined, inner: RpcClient, attrs: Attributes = {}): RpcClient {
  return {
    target: inner.target,
    call: <Res>(method: string, req: unknown, opts?: CallOptions): Promise<Res> =>
      T === undefined
        ? inner.call<Res>(method, req, opts)
        : clientSpan(rpcSpanName(service, method), { ...attrs, 'rpc.method': method, ...(opts?.deadlineMs !== undefined ? { 'rpc.deadline_ms': Math.floor(opts.deadlineMs) } : {}) }, () => inner.call<Res>(method, req, opts)),
    close: () => inner.close(),
  };
}

/** Sets attributes on the active span (a no-op when off or outside a span). */
export function annotate(attrs: Attributes): void {
  const t = T;
  if (t === undefined) return;
  t.api.trace.getActiveSpan()?.setAttributes(attrs);
}

/** The active span's trace id (32 hex digits), for logs; undefined when off or outside a span. */
export function activeTraceId(): string | undefined {
  const t = T;
  if (t === undefined) return undefined;
  return t.api.trace.getActiveSpan()?.spanContext().traceId;
}

// ---------------------------------------------------------------------------------------------------------------
// Fastify: a SERVER span per request (from its arrival to its last byte), the handler run inside it

const requestSpans = new WeakMap<FastifyRequest, Span>();

/**
 * Gives every request whose URL `match`es a SERVER span, continued from its `traceparent`: named
 * `<METHOD> <route>`, with `http.response.status_code`, ERROR for a 5xx. Registers nothing when tracing is off (call
 * it after `initTracing`). Run the handler's work in `inRequestSpan` so the calls it makes are the span's children.
 */
export function traceRequests(app: FastifyInstance, match: (url: string) => boolean = () => true): void {
  const t = T;
  if (t === undefined) return;
  app.addHook('onRequest', (request, _reply, done) => {
    if (match(request.url)) {
      const path = request.url.split('?')[0];
      const span = t.tracer.startSpan(
        `${request.method} ${path}`,
        { kind: KIND.server, attributes: { 'http.request.method': request.method, 'url.path': path } },
        t.propagator.extract(t.api.ROOT_CONTEXT, request.headers, headerGetter),
      );
      requestSpans.set(request, span);
    }
    done();
  });
  const end = (request: FastifyRequest, status?: number) => {
    const span = requestSpans.get(request);
    if (!span) return;
    requestSpans.delete(request);
    const route = request.routeOptions?.url;
    if (route) {
      span.setAttribute('http.route', route);
      span.updateName(`${request.method} ${route}`);
    }
    if (status !== undefined) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: t.api.SpanStatusCode.ERROR, message: `HTTP ${status}` });
    } else span.setStatus({ code: t.api.SpanStatusCode.ERROR, message: 'the client went away' });
    span.end();
  };
  app.addHook('onError', (request, _reply, err, done) => {
    const span = requestSpans.get(request);
    if (span) {
      span.recordException(err);
      span.setAttribute('error.type', typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : err.name);
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request);
    done();
  });
}

/** Runs `fn` with the request's span (see `traceRequests`) active; just `fn()` when it has none. */
export function inRequestSpan<R>(request: FastifyRequest, fn: () => Promise<R>): Promise<R> {
  const t = T;
  if (t === undefined) return fn();
  const span = requestSpans.get(request);
  if (!span) return fn();
  return t.api.context.with(t.api.trace.setSpan(t.api.context.active(), span), fn);
}
