/**
 * The query server as it is usually first written: correct, fast enough, and it grows with every new query.
 *
 * - results are cached in a Map keyed by the query, and nothing ever leaves it but an index update;
 * - each cached query subscribes its own listener to 'update' (to drop its entry when the index changes), and the
 *   listener stays subscribed after it has done so; `setMaxListeners(0)` silenced the warning Node prints past ten;
 * - every operation is appended to an op log (for /stats: the p99 and the last queries), and the log is never trimmed.
 *
 * Unique queries are most of what a public search box gets, so all three grow by one entry per request, for ever.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../shared/engine.ts';
import type { Doc } from '../../shared/types.ts';
import {
  RECENT,
  JSON_TYPE,
  cacheKey,
  entryBytes,
  listen,
  p99,
  parseDocuments,
  parseSearch,
  searchBody,
  type QueryServer,
  type ServerOptions,
  type ServerStats,
} from './server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from './server-kit.ts';

interface Op {
  at: number;
  kind: 'search' | 'ingest';
  query?: string;
  ms: number;
  cached?: boolean;
}

export async function startServer(engine: Engine, _opts: ServerOptions = {}): Promise<QueryServer> {
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  events.setMaxListeners(0); // one listener per cached query: "possible EventEmitter memory leak detected" otherwise
  const cache = new Map<string, string>();
  const opLog: Op[] = [];

  const update = async (docs: Doc[]) => {
    const t0 = performance.now();
    const r = await engine.ingest(docs);
    events.emit('update');
    opLog.push({ at: Date.now(), kind: 'ingest', ms: performance.now() - t0 });
    return { documents: r.documents, chunks: r.chunks };
  };

  const stats = (): ServerStats => {
    const searches = opLog.filter((op) => op.kind === 'search');
    let cacheBytes = 0;
    for (const [key, body] of cache) cacheBytes += entryBytes(key, body);
    return {
      requests: searches.length,
      p99Ms: p99(searches.map((op) => op.ms)),
      recent: searches.slice(-RECENT).map((op) => op.query!),
      cacheEntries: cache.size,
      cacheBytes,
      opLogEntries: opLog.length,
    };
  };

  app.get('/healthz', async () => ({ ok: true }));
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
      events.on('update', () => cache.delete(key)); // this entry is stale once the index changes
    }
    opLog.push({ at: Date.now(), kind: 'search', query: params.query, ms: performance.now() - t0, cached });
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
