/**
 * Prometheus metrics of the split engine's services (gateway, shard, embedder, ingest worker), one prom-client
 * registry per process, every series labelled `service` (and `shard` for a shard). What each service exports is
 * declared here, up front, so a test can list every metric name without starting a process
 * (`exportedMetricNames`, used by deploy/prometheus's cross-check: a misspelt name in a rule or the dashboard fails).
 *
 *   every service
 *     rag_http_request_duration_seconds{route,method,status}  histogram of whole requests, buckets around the 200 ms
 *                                                             target (…, 0.1, 0.15, 0.2, 0.25, 0.3, …): its _count is
 *                                                             the request counter by route and status
 *     rag_ready                                               1 while GET /readyz answers 200
 *     nodejs_eventloop_lag_p99_seconds, process_resident_memory_bytes, nodejs_heap_size_used_bytes …
 *                                                             prom-client's default process metrics
 *   gateway
 *     rag_gateway_in_flight                                   requests being served now
 *     rag_shed_total{reason}                                  requests refused with 503 before any work (in_flight)
 *     rag_degraded_answers_total{reason}                      200s with something left out (shards-missing | bm25-only)
 *     rag_bulkhead_in_flight{target} / rag_bulkhead_limit{target} / rag_bulkhead_queued{target}
 *     rag_bulkhead_rejected_total{target}                     per shard and for the embedder (bulkhead.ts)
 *     rag_breaker_state{target}                               0 closed, 1 half-open, 2 open, 3 isolated, for every
 *                                                             upstream client behind a breaker (resilience.ts)
 *   ingest worker
 *     rag_queue_jobs{queue,state}                             BullMQ jobs by state (waiting, active, delayed, failed)
 *     rag_ingest_jobs_total{outcome}                          jobs completed | failed by this worker
 *     rag_ingest_ops_total                                    ops published to the write log
 *
 * The monolith (`npm run serve`) keeps its own registry (metrics.ts: the results and embedding caches live there).
 *
 * Prometheus authenticates like any internal caller: `Authorization: Bearer <RAG_INTERNAL_TOKEN>` on GET /metrics
 * (http-rpc.ts; the gateway the same), read by Prometheus from a file (`authorization: credentials_file`).
 */
import client from 'prom-client';
import { timingSafeEqual } from 'node:crypto';

export type ServiceKind = 'gateway' | 'shard' | 'embedder' | 'ingest';

/** Request-latency buckets, seconds: dense around the 200 ms p99 target so histogram_quantile is close there. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5];

/** Circuit state as a number (rag_breaker_state). */
export const BREAKER_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2, isolated: 3 } as const;

/** What an HTTP server needs to serve GET /metrics and time its requests (http-rpc.ts takes this, no prom-client). */
export interface HttpMetricsHook {
  contentType: string;
  text(): Promise<string>;
  observe(route: string, method: string, status: number, seconds: number): void;
  /** Where `rag_ready` reads readiness from (the server's own /readyz answer). */
  setReady?(fn: () => boolean): void;
}

export interface ServiceMetrics {
  service: ServiceKind;
  registry: client.Registry;
  requestDuration: client.Histogram<'route' | 'method' | 'status'>;
  /** Set what `rag_ready` reads (called at every scrape). */
  setReady(fn: () => boolean): void;
  http: HttpMetricsHook;
  gateway?: {
    inFlight: client.Gauge<string>;
    shed: client.Counter<'reason'>;
    degraded: client.Counter<'reason'>;
    bulkheadInFlight: client.Gauge<'target'>;
    bulkheadLimit: client.Gauge<'target'>;
    bulkheadQueued: client.Gauge<'target'>;
    bulkheadRejected: client.Counter<'target'>;
    breakerState: client.Gauge<'target'>;
  };
  ingest?: {
    queueJobs: client.Gauge<'queue' | 'state'>;
    jobs: client.Counter<'outcome'>;
    ops: client.Counter<string>;
  };
}

export interface ServiceMetricsOptions {
  /** Extra labels on every series (a shard: { shard: '0' }). */
  labels?: Record<string, string>;
  /** prom-client's default process metrics. Default true. */
  defaults?: boolean;
}

export function createServiceMetrics(service: ServiceKind, opts: ServiceMetricsOptions = {}): ServiceMetrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service, ...opts.labels });
  if (opts.defaults ?? true) client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];
  let ready: () => boolean = () => true;
  const requestDuration = new client.Histogram({
    name: 'rag_http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  new client.Gauge({
    name: 'rag_ready',
    help: '1 while the service answers GET /readyz with 200',
    registers,
    collect() {
      this.set(ready() ? 1 : 0);
    },
  });
  const m: ServiceMetrics = {
    service,
    registry,
    requestDuration,
    setReady: (fn) => (ready = fn),
    http: {
      contentType: registry.contentType,
      text: () => registry.metrics(),
      observe: (route, method, status, seconds) => requestDuration.observe({ route, method, status }, seconds),
      setReady: (fn) => (ready = fn),
    },
  };
  if (service === 'gateway') {
    m.gateway = {
      inFlight: new client.Gauge({ name: 'rag_gateway_in_flight', help: 'Requests the gateway is serving now', registers }),
      shed: new client.Counter({ name: 'rag_shed_total', help: 'Requests refused with 503 before any work, by reason', labelNames: ['reason'] as const, registers }),
      degraded: new client.Counter({
        name: 'rag_degraded_answers_total',
        help: 'Answers (200) with something left out, by reason (shards-missing | bm25-only)',
        labelNames: ['reason'] as const,
        registers,
      }),
      bulkheadInFlight: new client.Gauge({ name: 'rag_bulkhead_in_flight', help: 'Calls in flight through a bulkhead, by upstream', labelNames: ['target'] as const, registers }),
      bulkheadLimit: new client.Gauge({ name: 'rag_bulkhead_limit', help: 'A bulkhead\'s bound on calls in flight, by upstream', labelNames: ['target'] as const, registers }),
      bulkheadQueued: new client.Gauge({ name: 'rag_bulkhead_queued', help: 'Calls waiting for a bulkhead slot, by upstream', labelNames: ['target'] as const, registers }),
      bulkheadRejected: new client.Counter({
        name: 'rag_bulkhead_rejected_total',
        help: 'Calls a full bulkhead refused, by upstream',
        labelNames: ['target'] as const,
        registers,
      }),
      breakerState: new client.Gauge({
        name: 'rag_breaker_state',
        help: 'Circuit breaker state by upstream: 0 closed, 1 half-open, 2 open, 3 isolated',
        labelNames: ['target'] as const,
        registers,
      }),
    };
  }
  if (service === 'ingest') {
    m.ingest = {
      queueJobs: new client.Gauge({ name: 'rag_queue_jobs', help: 'BullMQ jobs by queue and state (waiting, active, delayed, failed)', labelNames: ['queue', 'state'] as const, registers }),
      jobs: new client.Counter({ name: 'rag_ingest_jobs_total', help: 'Write jobs this worker finished, by outcome (completed | failed)', labelNames: ['outcome'] as const, registers }),
      ops: new client.Counter({ name: 'rag_ingest_ops_total', help: 'Write ops published to the write log', registers }),
    };
  }
  return m;
}

/** A counter that mirrors a running total kept elsewhere (`counts.rejected`): adds what grew since the last scrape. */
export function mirrorCounter<L extends string>(counter: client.Counter<L>, labels: Partial<Record<L, string>>, read: () => number): () => void {
  let last = 0;
  counter.inc(labels as never, 0);
  return () => {
    const v = read();
    if (v > last) counter.inc(labels as never, v - last);
    last = v;
  };
}

/** What the gateway exposes for its metrics: its load and the clients to its upstreams (bulkheads, breakers). */
export interface GatewayView {
  load: { inFlight: number; shed: number };
  /** Upstream clients by target name ('shard-0', 'embedder'), as wrapped (bulkhead, breaker or bare). */
  upstreams(): Array<{ target: string; client: unknown }>;
}

/** Wires the gateway's gauges to read `view` at every scrape. */
export function watchGateway(m: ServiceMetrics, view: GatewayView): void {
  const g = m.gateway;
  if (!g) throw new Error('watchGateway needs the gateway\'s metrics (createServiceMetrics("gateway"))');
  const mirrors = new Map<string, () => void>();
  mirrors.set('shed', mirrorCounter(g.shed, { reason: 'in_flight' }, () => view.load.shed));
  const collect = () => {
    g.inFlight.set(view.load.inFlight);
    for (const f of mirrors.values()) f();
    for (const { target, client: c } of view.upstreams()) {
      const u = c as { counts?: { inFlight?: number; queued?: number; rejected?: number }; maxConcurrent?: number; circuit?: string; inner?: unknown };
      if (u.counts && typeof u.maxConcurrent === 'number') {
        g.bulkheadInFlight.set({ target }, u.counts.inFlight ?? 0);
        g.bulkheadQueued.set({ target }, u.counts.queued ?? 0);
        g.bulkheadLimit.set({ target }, u.maxConcurrent);
        const key = `bulkhead:${target}`;
        if (!mirrors.has(key)) mirrors.set(key, mirrorCounter(g.bulkheadRejected, { target }, () => u.counts?.rejected ?? 0));
        mirrors.get(key)!();
      }
      if (typeof u.circuit === 'string' && u.circuit in BREAKER_STATE_VALUE) {
        g.breakerState.set({ target }, BREAKER_STATE_VALUE[u.circuit as keyof typeof BREAKER_STATE_VALUE]);
      }
    }
  };
  const text = m.http.text;
  m.http.text = async () => {
    collect();
    return text();
  };
}

/** Counts of the ingest worker and its queue's job counts (BullMQ `Queue.getJobCounts`), read at every scrape. */
export function watchIngest(
  m: ServiceMetrics,
  view: { counts: { completed: number; failed: number; ops: number }; queue: string; jobCounts(): Promise<Record<string, number>> },
): void {
  const g = m.ingest;
  if (!g) throw new Error('watchIngest needs the ingest worker\'s metrics (createServiceMetrics("ingest"))');
  const mirrors = [
    mirrorCounter(g.jobs, { outcome: 'completed' }, () => view.counts.completed),
    mirrorCounter(g.jobs, { outcome: 'failed' }, () => view.counts.failed),
    mirrorCounter(g.ops, {}, () => view.counts.ops),
  ];
  const text = m.http.text;
  m.http.text = async () => {
    for (const f of mirrors) f();
    try {
      const counts = await view.jobCounts();
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'prioritized']) g.queueJobs.set({ queue: view.queue, state }, counts[state] ?? 0);
    } catch {
      // Redis away: the gauge keeps its last value; the worker's own errors say why
    }
    return text();
  };
}

/**
 * Whether a GET /metrics may be served: with a secret, the caller must present it as `Authorization: Bearer <secret>`
 * (Prometheus' `authorization.credentials_file`) or as `x-internal-token`; without one (tests), anyone may.
 */
export function metricsAuthorized(headers: Record<string, string | string[] | undefined>, secret: string | undefined): boolean {
  if (secret === undefined) return true;
  const auth = headers.authorization;
  const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : headers['x-internal-token'];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Every metric name a scrape of `registry` can carry (histograms as _bucket, _sum and _count). */
export async function registryMetricNames(registry: client.Registry): Promise<Set<string>> {
  const out = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(name + s);
    else out.add(name);
  }
  return out;
}

/**
 * Every metric name a scrape of `service` can carry, read from a fresh registry: what deploy/prometheus's
 * cross-check compares the rules and the dashboard with.
 */
export async function exportedMetricNames(service: ServiceKind): Promise<Set<string>> {
  return registryMetricNames(createServiceMetrics(service).registry);
}
