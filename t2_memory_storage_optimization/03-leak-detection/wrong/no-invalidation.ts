/**
 * Wrong: "the listeners were the leak, so they are gone". The cache is the engine's byte-capped ResultsCache and the
 * op log a ring, but nothing tells the cache about an update any more: every answer cached before a write keeps
 * being served after it, until it happens to be evicted. The leak is fixed by breaking correctness.
 * @rejected-with stale answer after an update
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../../shared/engine.ts';
import { ResultsCache } from '../../../shared/serve/cache.ts';
import type { Doc } from '../../../shared/types.ts';
import {
  DEFAULT_CACHE_BYTES,
  DEFAULT_OP_LOG_SIZE,
  JSON_TYPE,
  RECENT,
  listen,
  p99,
  parseDocuments,
  parseSearch,
  searchBody,
  type QueryServer,
  type ServerOptions,
} from '../server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from '../server-kit.ts';

export async function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  const cache = new ResultsCache({ maxBytes: opts.cacheBytes ?? DEFAULT_CACHE_BYTES });
  const size = opts.opLogSize ?? DEFAULT_OP_LOG_SIZE;
  const latencies = new Float64Array(size);
  const recent: string[] = [];
  let requests = 0;

  const update = async (docs: Doc[]) => {
    const r = await engine.ingest(docs);
    events.emit('update');
    return { documents: r.documents, chunks: r.chunks };
  };
  const stats = () => ({
    requests,
    p99Ms: p99(latencies.subarray(0, Math.min(requests, size))),
    recent: [...recent],
    cacheEntries: cache.size,
    cacheBytes: cache.bytes,
    opLogEntries: Math.min(requests, size),
  });

  app.get('/stats', async () => stats());
  app.get('/search', async (req, reply) => {
    const t0 = performance.now();
    const params = parseSearch(req.query);
    if (typeof params === 'string') return reply.code(400).send({ error: params });
    const key = cache.key(params.query, params.k, 'hybrid', undefined);
    let body = cache.get(key);
    const cached = body !== undefined;
    if (body === undefined) {
      body = searchBody(await engine.query(params.query, { k: params.k }));
      cache.set(key, body);
    }
    latencies[requests++ % size] = performance.now() - t0;
    recent.push(params.query);
    if (recent.length > RECENT) recent.shift();
    return reply.type(JSON_TYPE).header('x-cache', cached ? 'hit' : 'miss').send(body);
  });
  app.post('/documents', async (req, reply) => {
    const docs = parseDocuments(req.body);
    if (typeof docs === 'string') return reply.code(400).send({ error: docs });
    return update(docs);
  });

  const url = await listen(app);
  return { url, events, update, stats, close: () => app.close() };
}
