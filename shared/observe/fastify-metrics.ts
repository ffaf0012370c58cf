/**
 * GET /metrics and request timing for a Fastify service of the split engine (the gateway), with the metrics of
 * service-metrics.ts: every response timed into rag_http_request_duration_seconds{route,method,status} (the route's
 * pattern, never the raw URL: bounded label values), `degraded` answers counted by reason, and GET /metrics served to
 * a caller that presents the service credential as `Authorization: Bearer <secret>` (Prometheus'
 * `authorization.credentials_file`) or `x-internal-token`. Without a secret (tests, loopback development) it is open.
 */
import type { FastifyInstance } from 'fastify';
import { metricsAuthorized, type ServiceMetrics } from './service-metrics.ts';

export function registerFastifyMetrics(app: FastifyInstance, metrics: ServiceMetrics, secret: string | undefined): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.http.observe(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.addHook('preSerialization', async (_request, _reply, payload: unknown) => {
    const degraded = (payload as { degraded?: unknown } | null)?.degraded;
    if (metrics.gateway && Array.isArray(degraded)) for (const reason of degraded) metrics.gateway.degraded.inc({ reason: String(reason) });
    return payload;
  });
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (!metricsAuthorized(request.headers, secret)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="rag-internal"')
        .send({ error: 'unauthorized', message: 'GET /metrics needs Authorization: Bearer <the service credential>' });
    }
    return reply.type(metrics.http.contentType).send(await metrics.http.text());
  });
}
