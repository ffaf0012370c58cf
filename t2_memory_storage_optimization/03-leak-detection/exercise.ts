/**
 * EXERCISE 03-leak-detection — make the query server's memory stop growing with the number of requests, without
 * changing what it answers.
 *
 * As shipped it is correct and leaks, like before.ts: a public search box gets mostly queries it has never seen, and
 * for each one this server keeps something for ever. Find what with the tools first (the README shows how):
 *
 *   npx tsx t2_memory_storage_optimization/03-leak-detection/find-leaks.ts --impl exercise   # memlab, 3 snapshots
 *   npm run t2 -- --only 03-leak-detection --impl exercise --quick                           # heap growth per 10k
 *
 * What must hold (checked by `npm run checkpoint -- 03-leak-detection`):
 *   - /search returns exactly before.ts's body for every query; a repeated query (case and spacing aside) is a cache
 *     hit (x-cache: hit) with the same body; 400 naming the parameter for a missing q or a bad k;
 *   - /stats: `requests` counts every search, `recent` lists the last 10 queries oldest first, `p99Ms` is positive;
 *   - after an update (POST /documents or `update`), no search returns an answer computed before it;
 *   - after 300 + 1,500 unique queries with `{ cacheBytes: 1 MiB, opLogSize: 256 }`: at most one 'update' listener
 *     on `events`, `stats().cacheBytes` within `cacheBytes`, `stats().opLogEntries` within `opLogSize`, and the live
 *     heap (after a forced GC) grown by less than 4 MiB over the last 1,500.
 *
 * Stuck? npm run hint -- 03-leak-detection
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../shared/engine.ts';
import type { Doc } from '../../shared/types.ts';
import {
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
  type ServerStats,
} from './server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from './server-kit.ts';

interface Op {
  at: number;
  kind: 'search' | 'ingest';
  query?: string;
  ms: number;
}

export async function startServer(engine: Engine, _opts: ServerOptions = {}): Promise<QueryServer> {
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  events.setMaxListeners(0);
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
      events.on('update', () => cache.delete(key));
    }
    opLog.push({ at: Date.now(), kind: 'search', query: params.query, ms: performance.now() - t0 });
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
