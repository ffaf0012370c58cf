/**
 * The service's Prometheus metrics (prom-client), in one registry per process so tests can build several servers in
 * one process without "metric already registered" errors.
 *
 *   rag_http_request_duration_seconds{route,method,status}   histogram of whole requests, as Fastify measured them
 *   rag_query_stage_seconds{stage}                           engine stages (analyze, bm25, embed, dense, fuse, answer,
 *                                                            total) of queries that missed the results cache
 *   rag_cache_hits_total{cache,tier} / rag_cache_misses_total{cache,tier}
 *                                                            results cache (tier memory | redis) and embedding cache
 *   rag_shed_total{reason}                                   requests refused with 503 (in_flight | event_loop | not_ready)
 *   rag_deadline_exceeded_total                              requests answered 504
 *   rag_index_chunks / rag_index_documents / rag_index_version
 *   nodejs_eventloop_lag_seconds and the other prom-client default process metrics (event-loop lag p50/p90/p99 too)
 */
import client from 'prom-client';

export interface Metrics {
  registry: client.Registry;
  requestDuration: client.Histogram<'route' | 'method' | 'status'>;
  stage: client.Histogram<'stage'>;
  cacheHits: client.Counter<'cache' | 'tier'>;
  cacheMisses: client.Counter<'cache' | 'tier'>;
  shed: client.Counter<'reason'>;
  deadline: client.Counter<string>;
  indexChunks: client.Gauge<string>;
  indexDocuments: client.Gauge<string>;
  indexVersion: client.Gauge<string>;
}

export interface MetricsOptions {
  /** Also collect prom-client's default process metrics (CPU, heap, GC, event-loop lag). Default true. */
  defaults?: boolean;
  /** Labels added to every series (e.g. { worker: '1' }). Default none. */
  labels?: Record<string, string>;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new client.Registry();
  if (opts.labels) registry.setDefaultLabels(opts.labels);
  if (opts.defaults ?? true) client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];
  return {
    registry,
    requestDuration: new client.Histogram({
      name: 'rag_http_request_duration_seconds',
      help: 'HTTP request duration by route, method and status code',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    stage: new client.Histogram({
      name: 'rag_query_stage_seconds',
      help: 'Engine time per query stage, for queries that missed the results cache',
      labelNames: ['stage'] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    }),
    cacheHits: new client.Counter({
      name: 'rag_cache_hits_total',
      help: 'Cache hits by cache (results | embedding) and tier (memory | redis)',
      labelNames: ['cache', 'tier'] as const,
      registers,
    }),
    cacheMisses: new client.Counter({
      name: 'rag_cache_misses_total',
      help: 'Cache misses by cache (results | embedding) and tier (memory | redis)',
      labelNames: ['cache', 'tier'] as const,
      registers,
    }),
    shed: new client.Counter({
      name: 'rag_shed_total',
      help: 'Requests refused with 503 by reason (in_flight | event_loop | not_ready | shutting_down)',
      labelNames: ['reason'] as const,
      registers,
    }),
    deadline: new client.Counter({
      name: 'rag_deadline_exceeded_total',
      help: 'Requests answered 504 because they passed their deadline',
      registers,
    }),
    indexChunks: new client.Gauge({ name: 'rag_index_chunks', help: 'Chunks in the loaded index', registers }),
    indexDocuments: new client.Gauge({ name: 'rag_index_documents', help: 'Documents in the loaded index', registers }),
    indexVersion: new client.Gauge({
      name: 'rag_index_version',
      help: 'Index version: bumped by every acknowledged write',
      registers,
    }),
  };
}
