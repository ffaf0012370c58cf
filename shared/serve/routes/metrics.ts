/**
 * GET /metrics: Prometheus text (observe/metrics.ts); in a cluster worker, every worker's metrics aggregated by the
 * primary. Needs a key with the admin scope (access.ts): it is large (about 100 KB) and says a lot about the
 * service. Also times every response into rag_http_request_duration_seconds{route, method, status}.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.ts';

export function registerMetrics(app: FastifyInstance, ctx: RouteContext): void {
  const { metrics } = ctx;
  app.addHook('onResponse', (request, reply, done) => {
    metrics.requestDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.get('/metrics', { config: { access: 'admin' }, schema: { hide: true } }, async (_request, reply) => {
    const text = ctx.metricsText ? await ctx.metricsText() : await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
