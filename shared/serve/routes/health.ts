/**
 * GET /healthz   liveness: the process is up (200 with the version it answers at)
 * GET /readyz    readiness: 200 once the index is loaded, 503 before that and while shutting down
 */
import type { FastifyInstance } from 'fastify';
import { healthResponse } from '../schemas.ts';
import type { RouteContext } from './context.ts';

export function registerHealthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { replica } = ctx;
  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: healthResponse } } }, async () => ({
    status: 'ok',
    version: replica.version,
  }));

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: 200 once the index is loaded', response: { 200: healthResponse, 503: healthResponse } } },
    async (_request, reply) => {
      const engine = replica.engine;
      if (!engine || ctx.closing) {
        return reply.code(503).send({ status: ctx.closing ? 'shutting down' : 'loading', version: replica.version });
      }
      const s = engine.stats();
      return { status: 'ready', version: replica.version, documents: s.documents, chunks: s.chunks };
    },
  );
}
