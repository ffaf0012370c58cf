/**
 * Wrong: the cache is bounded in bytes (an LRU) and the op log is a ring, but each cached query still subscribes its
 * own listener, now with `once`, to drop its entry on the next update. `once` removes a listener when the event
 * fires: until the next update, which may be hours away, they pile up one per unique query, each holding its
 * closure, and outlive the entries they were for.
 *
 * What differs from after.ts: invalidation (an LRU in bytes, lru-cache's, each entry with a `once` listener that
 * deletes it, instead of one listener that moves the engine's ResultsCache to a new version).
 * after.ts builds its cache, its listener and its op log inside startServer and exports none of them (exporting
 * them would make exercise.ts export them too, and give the solution away), and a request never leaves its server
 * for a wrapper to see, so startServer is kept here as a copy with that part changed.
 *
 * @rejected-with 'update' listeners on the server's events
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Engine } from '../../../shared/engine.ts';
import type { Doc } from '../../../shared/types.ts';
import {
  DEFAULT_CACHE_BYTES,
  DEFAULT_OP_LOG_SIZE,
  JSON_TYPE,
  RECENT,
  cacheKey,
  entryBytes,
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
  events.setMaxListeners(0);
  const cache = new LRUCache<string, string>({ maxSize: opts.cacheBytes ?? DEFAULT_CACHE_BYTES, sizeCalculation: (body, key) => entryBytes(key, body) });
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
    cacheBytes: cache.calculatedSize,
    opLogEntries: Math.min(requests, size),
  });

  app.get('/stats', async () => stats());
  app.get('/search', async (req, reply) => {
    const t0 = performance.now();
    const params = parseSearch(req.query);
    if (typeof params === 'string') return reply.code(400).send({ error: params });
    const key = cacheKey(params);
    let body = cache.get(key);
    const cached = body !== undefined;
    if (body === undefined) {
      body = searchBody(await engine.query(params.query, { k: params.k }));
      cache.set(key, body);
      events.once('update', () => cache.delete(key));
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
