/**
 * Wrong: the fix a learner writes first. One listener clears the whole cache on an update, the op log is a ring, and
 * the cache is capped at 5,000 entries, dropping the oldest. But a cap in entries is not a cap in memory: an entry
 * here is a body of five chunks with their text (about 7 KB), so 5,000 of them are about 35 MB per process, and the
 * `cacheBytes` the server was started with is ignored.
 *
 * What differs from after.ts: the results cache (a Map capped at 5,000 entries, cleared by the one listener,
 * instead of the engine's byte-capped ResultsCache moved to a new version).
 * after.ts builds its cache, its listener and its op log inside startServer and exports none of them (exporting
 * them would make exercise.ts export them too, and give the solution away), and a request never leaves its server
 * for a wrapper to see, so startServer is kept here as a copy with that part changed.
 *
 * @rejected-with the results cache holds
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../../shared/engine.ts';
import type { Doc } from '../../../shared/types.ts';
import {
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

const MAX_ENTRIES = 5_000;

export async function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  const cache = new Map<string, string>();
  const onUpdate = () => cache.clear();
  events.on('update', onUpdate);
  const size = opts.opLogSize ?? DEFAULT_OP_LOG_SIZE;
  const latencies = new Float64Array(size);
  const recent: string[] = [];
  let requests = 0;

  const update = async (docs: Doc[]) => {
    const r = await engine.ingest(docs);
    events.emit('update');
    return { documents: r.documents, chunks: r.chunks };
  };
  const stats = () => {
    let cacheBytes = 0;
    for (const [key, body] of cache) cacheBytes += entryBytes(key, body);
    return {
      requests,
      p99Ms: p99(latencies.subarray(0, Math.min(requests, size))),
      recent: [...recent],
      cacheEntries: cache.size,
      cacheBytes,
      opLogEntries: Math.min(requests, size),
    };
  };

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
      if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
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
  return {
    url,
    events,
    update,
    stats,
    close: async () => {
      events.off('update', onUpdate);
      await app.close();
    },
  };
}
