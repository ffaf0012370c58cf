/**
 * GET /openapi.json: an OpenAPI 3 description generated from the route schemas (schemas.ts) by @fastify/swagger.
 * Registered before the routes, so the plugin sees every route as it is added.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { errorSchema } from '../schemas.ts';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'rag-perf-lab engine',
        version: '1.0.0',
        description:
          'Hybrid (BM25 + dense) retrieval with cited extractive answers over a saved index. Writes need ' +
          '`Authorization: Bearer <key>` with the write scope (npm run keys -- create --scope write).',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (npm run keys)' } } },
    },
  });
  app.addSchema(errorSchema);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
