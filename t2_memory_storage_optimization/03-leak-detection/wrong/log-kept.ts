/**
 * Wrong: the cache and its invalidation are fixed (the engine's byte-capped ResultsCache, one listener that moves it
 * to a new version), but the op log still keeps every operation: small entries, so the heap check barely notices
 * them at first, and /stats sorts the whole history on every call. A day of traffic is millions of entries.
 *
 * What differs from after.ts: the op log (an array of every operation instead of the ring).
 * after.ts builds its cache, its listener and its op log inside startServer and exports none of them (exporting
 * them would make exercise.ts export them too, and give the solution away), and a request never leaves its server
 * for a wrapper to see, so startServer is kept here as a copy with that part changed.
 *
 * @rejected-with operations in the op log
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../../shared/engine.ts';
import { ResultsCache } from '../../../shared/serve/cache.ts';
import type { Doc } from '../../../shared/types.ts';
import {
  DEFAULT_CACHE_BYTES,
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

interface Op {
  at: number;
  query: string;
  ms: number;
}

export async function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  const cache = new ResultsCache({ maxBytes: opts.cacheBytes ?? DEFAULT_CACHE_BYTES });
  const onUpdate = () => cache.setVersion(cache.version + 1);
  events.on('update', onUpdate);
  const opLog: Op[] = [];

  const update = async (docs: Doc[]) => {
    const r = await engine.ingest(docs);
    events.emit('update');
    return { documents: r.documents, chunks: r.chunks };
  };
  const stats = () => ({
    requests: opLog.length,
    p99Ms: p99(opLog.map((op) => op.ms)),
    recent: opLog.slice(-RECENT).map((op) => op.query),
    cacheEntries: cache.size,
    cacheBytes: cache.bytes,
    opLogEntries: opLog.length,
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
    opLog.push({ at: Date.now(), query: params.query, ms: performance.now() - t0 });
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
