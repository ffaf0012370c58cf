/**
 * The machine's ceiling: a Fastify route that answers every POST /v1/query with a constant, doing no work. Whatever
 * a real server reaches is bounded by this on the same machine, load generator included.
 *
 *     npx tsx shared/loadtest/servers/hello-fastify.ts --port 8083 [--workers 2]
 */
import Fastify from 'fastify';
import { clustered, peerArgs } from './common.ts';

const USAGE = `
Usage: npx tsx shared/loadtest/servers/hello-fastify.ts [--port P] [--workers N]

Fastify hello-world: POST /v1/query answers {"hello":"world"}.
`;

const args = peerArgs(USAGE, false);
clustered(args.workers, async () => {
  const app = Fastify();
  const response = { 200: { type: 'object', properties: { hello: { type: 'string' } } } };
  app.get('/readyz', async () => ({ status: 'ready' }));
  app.post('/v1/query', { schema: { response } }, async () => ({ hello: 'world' }));
  await app.listen({ port: args.port, host: '127.0.0.1' });
});
