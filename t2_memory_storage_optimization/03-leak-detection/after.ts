/**
 * The query server with every per-request structure bounded, so its heap stops growing once it is warm:
 *
 * - the results cache is the engine's own `ResultsCache` (shared/serve/cache.ts): an LRU capped in bytes (keys and
 *   bodies as V8 stores them), so the least recently used entries leave once the cap is reached;
 * - invalidation is one listener for the whole server, subscribed at start and removed at close: an update moves the
 *   cache to a new version (every key carries it), which empties it at once. No listener per request, and a query
 *   that began before the update cannot store its now stale answer under a key anyone reads;
 * - the op log is a ring: the latencies of the last `opLogSize` searches in one Float64Array and the last RECENT
 *   queries, overwritten in place; the request count is a number, not the log's length.
 *
 * The cache with its listener and the op log are the two parts a wrong solution swaps (`ServerParts`, server-kit.ts):
 * `startServer` takes them as an optional third argument, defaulting to the ones below.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Engine } from '../../shared/engine.ts';
import { ResultsCache } from '../../shared/serve/cache.ts';
import type { Doc } from '../../shared/types.ts';
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
  type OpLog,
  type QueryServer,
  type ServerCache,
  type ServerOptions,
  type ServerParts,
  type ServerStats,
} from './server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from './server-kit.ts';

/**
 * The engine's byte-capped LRU, and one listener for the whole server, subscribed here at start and removed at close:
 * an update moves the cache to its next version, which empties it at once.
 */
function versionedCache(events: EventEmitter, maxBytes: number): ServerCache {
  const cache = new ResultsCache({ maxBytes });
  const onUpdate = () => cache.setVersion(cache.version + 1);
  events.on('update', onUpdate);
  return {
    // the key carries the cache's version when the query starts: an answer computed across an update is never read
    key: (p) => cache.key(p.query, p.k, 'hybrid', undefined),
    get: (key) => cache.get(key),
    set: (key, body) => cache.set(key, body),
    get size() {
      return cache.size;
    },
    get bytes() {
      return cache.bytes;
    },
    close: () => events.off('update', onUpdate),
  };
}

/** The last `size` search latencies and the last RECENT queries, overwritten in place. */
class OpRing implements OpLog {
  private readonly latencies: Float64Array;
  private readonly queries: string[] = new Array(RECENT);
  requests = 0;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`opLogSize must be a positive integer, got ${size}`);
    this.latencies = new Float64Array(size);
  }

  record(query: string, ms: number): void {
    this.latencies[this.requests % this.size] = ms;
    this.queries[this.requests % RECENT] = query;
    this.requests++;
  }

  get entries(): number {
    return Math.min(this.requests, this.size);
  }

  p99(): number {
    return p99(this.latencies.subarray(0, this.entries));
  }

  recent(): string[] {
    const n = Math.min(this.requests, RECENT);
    const out: string[] = [];
    for (let i = this.requests - n; i < this.requests; i++) out.push(this.queries[i % RECENT]);
    return out;
  }
}

const BOUNDED: ServerParts = { cache: versionedCache, opLog: (size) => new OpRing(size) };

/** `parts` replaces what the server keeps (a wrong solution's mistake); by default, the bounded parts above. */
export async function startServer(engine: Engine, opts: ServerOptions = {}, parts: Partial<ServerParts> = {}): Promise<QueryServer> {
  const { cache: makeCache, opLog: makeOpLog } = { ...BOUNDED, ...parts };
  const app = Fastify({ logger: false });
  const events = new EventEmitter();
  const cache = makeCache(events, opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
  const ops = makeOpLog(opts.opLogSize ?? DEFAULT_OP_LOG_SIZE);

  const update = async (docs: Doc[]) => {
    const r = await engine.ingest(docs);
    events.emit('update');
    return { documents: r.documents, chunks: r.chunks };
  };

  const stats = (): ServerStats => ({
    requests: ops.requests,
    p99Ms: ops.p99(),
    recent: ops.recent(),
    cacheEntries: cache.size,
    cacheBytes: cache.bytes,
    opLogEntries: ops.entries,
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/stats', async () => stats());
  app.get('/search', async (req, reply) => {
    const t0 = performance.now();
    const params = parseSearch(req.query);
    if (typeof params === 'string') return reply.code(400).send({ error: params });
    const key = cache.key(params);
    let body = cache.get(key);
    const cached = body !== undefined;
    if (body === undefined) {
      body = searchBody(await engine.query(params.query, { k: params.k }));
      cache.set(key, body);
    }
    ops.record(params.query, performance.now() - t0);
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
      cache.close();
      await app.close();
    },
  };
}
