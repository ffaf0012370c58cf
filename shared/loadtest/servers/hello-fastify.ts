/**
 * The machine's ceiling: a Fastify route that answers every POST /v1/query with a constant, doing no work. Whatever
 * a real server reaches is bounded by this on the same machine, load generator included. With --body-bytes it sends
 * a constant body of that size (a pre-serialized JSON string), so the ceiling also counts what it costs to write and
 * read a response as large as a real one (a hybrid k = 10 answer is about 11 KB).
 *
 *     npx tsx shared/loadtest/servers/hello-fastify.ts --port 8083 [--workers 2] [--body-bytes 11000]
 */
import Fastify from 'fastify';
import { fail, numberFlag, parseCli } from '../../util/cli.ts';
import { clustered } from './common.ts';

const USAGE = `
Usage: npx tsx shared/loadtest/servers/hello-fastify.ts [--port P] [--workers N] [--body-bytes B]

Fastify hello-world: POST /v1/query answers {"hello":"world"}, or with --body-bytes a constant JSON body of B bytes.
`;

const { values } = parseCli(USAGE, { port: { type: 'string' }, workers: { type: 'string' }, 'body-bytes': { type: 'string' } });
const port = numberFlag('port', values.port, 8080, (n) => Number.isInteger(n) && n > 0 && n < 65536);
const workers = numberFlag('workers', values.workers, 1, (n) => Number.isInteger(n) && n > 0);
const bodyBytes = numberFlag('body-bytes', values['body-bytes'], 0, (n) => Number.isInteger(n) && n >= 0 && n <= 10_000_000);
if (bodyBytes > 0 && bodyBytes < 20) fail('--body-bytes: use 0 (the tiny hello body) or at least 20');

clustered(workers, async () => {
  const app = Fastify();
  app.get('/readyz', async () => ({ status: 'ready' }));
  if (bodyBytes > 0) {
    const body = JSON.stringify({ hello: 'x'.repeat(bodyBytes - 12) });
    app.post('/v1/query', async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
  } else {
    const response = { 200: { type: 'object', properties: { hello: { type: 'string' } } } };
    app.post('/v1/query', { schema: { response } }, async () => ({ hello: 'world' }));
  }
  await app.listen({ port, host: '127.0.0.1' });
});
