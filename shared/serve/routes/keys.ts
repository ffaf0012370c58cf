/**
 * GET /v1/whoami: the API key a request presents (its id, name and scopes; never the key or its hash), or 401. Lets a
 * client check a key without side effects; `npm run loadtest` uses it to wait until a key it created is accepted.
 */
import type { FastifyInstance } from 'fastify';
import { commonErrors, whoamiResponse } from '../schemas.ts';

export function registerKeyRoutes(app: FastifyInstance): void {
  app.get(
    '/v1/whoami',
    {
      config: { access: 'key' },
      schema: {
        summary: 'The API key this request presents: id, name and scopes',
        security: [{ apiKey: [] }],
        response: { 200: whoamiResponse, 401: commonErrors[401], 404: { $ref: 'Error#' } },
      },
    },
    async (request, reply) => {
      const key = request.apiKey;
      // with authentication switched off (npm run serve -- --auth off) there is no key to describe
      if (!key) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'authentication is off: requests carry no key' });
      return { id: key.id, name: key.name, scopes: key.scopes };
    },
  );
}
