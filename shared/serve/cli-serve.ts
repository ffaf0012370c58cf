/**
 * `npm run serve`: the engine as an HTTP service (Fastify), one process or a cluster of workers.
 *
 *     npm run serve                                              # builds .cache/idx-brown on first start, port 8080
 *     npm run serve -- --index .cache/idx-100k --workers 2 --port 8080
 */
import cluster from 'node:cluster';
import { resolve } from 'node:path';
import pino from 'pino';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { ensureIndex, hasIndex } from './build-index.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { runPrimary } from './cluster/primary.ts';
import { runWorker } from './cluster/worker.ts';
import type { ServeConfig } from './config.ts';
import { serveSingle } from './single.ts';

const USAGE = `
Usage: npm run serve -- [--index <dir>] [--workers N] [--port P] [--host H] [options]

Serves a saved index (npm run index) over HTTP:
  POST /v1/query {query, k?, mode?, filter?, answer?}   POST /v1/documents {documents: [...]}
  DELETE /v1/documents/:id   GET /healthz   GET /readyz   GET /metrics   GET /openapi.json

Options:
  --index <dir>            saved index to serve (default: .cache/idx-brown, built from the Brown corpus on first start)
  --workers N              worker processes sharing the port (node:cluster); 1 = single process (default 1,
                           env WORKERS). Writes are applied by every worker before they are acknowledged.
  --port P                 default 8080 (env PORT)
  --host H                 default 127.0.0.1 (env HOST); 0.0.0.0 to listen on every interface
  --deadline-ms MS         per-query deadline, answered 504 beyond (default 1000, env DEADLINE_MS)
  --max-in-flight N        queries in progress before shedding with 503 + Retry-After (default 256, env MAX_IN_FLIGHT)
  --max-lag-ms MS          shed queries while the event loop lags more than this (default 300, 0 = off,
                           env MAX_EVENT_LOOP_DELAY_MS)
  --body-limit BYTES       largest request body, 413 beyond (default 1048576, env BODY_LIMIT)
  --cache-entries N        in-process results cache size (default 20000; 0 disables the results cache)
  --candidates N           hits each retriever hands to hybrid fusion (default: the index's, 20)
  --hybrid-ef N            HNSW beam for the dense list of hybrid queries (default: the index's, 24); more of
                           either buys a little quality for speed (npm run bench:query shows the trade)
  -h, --help               show this help

Environment:
  REDIS_URL     e.g. redis://127.0.0.1:6379: writes go through a BullMQ queue and the results cache gets a shared
                Redis tier (without it: in-process writes, memory cache only)
  LOG_LEVEL     pino level (default warn: no per-request lines)
  LLM_BASE_URL  answers from a chat model instead of extractive ones (see shared/answer/llm.ts)
  RAG_CACHE_DIR embedding (GloVe) cache directory (default .cache)
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    workers: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'deadline-ms': { type: 'string' },
    'max-in-flight': { type: 'string' },
    'max-lag-ms': { type: 'string' },
    'body-limit': { type: 'string' },
    'cache-entries': { type: 'string' },
    candidates: { type: 'string' },
    'hybrid-ef': { type: 'string' },
  });
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const nonNegative = (n: number) => n >= 0;
  const workers = numberFlag('workers', values.workers ?? process.env.WORKERS, 1, positiveInt);
  const port = numberFlag('port', values.port ?? process.env.PORT, 8080, (n) => Number.isInteger(n) && n >= 0 && n < 65536);
  const cacheEntries = numberFlag('cache-entries', values['cache-entries'], 20_000, (n) => Number.isInteger(n) && n >= 0);
  const optional = (name: string, v: string | undefined, check: (n: number) => boolean) =>
    v === undefined ? undefined : numberFlag(name, v, 0, check);
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

  const cfg: ServeConfig = {
    indexDir: resolve(values.index ?? `${REPO_ROOT}/.cache/idx-brown`),
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    workers,
    redisUrl: process.env.REDIS_URL || undefined,
    engine: {
      candidates: optional('candidates', values.candidates, (n) => positiveInt(n) && n <= 1000),
      hybridEf: optional('hybrid-ef', values['hybrid-ef'], (n) => positiveInt(n) && n <= 10_000),
    },
    logger,
    server: {
      deadlineMs: optional('deadline-ms', values['deadline-ms'], positiveInt),
      maxInFlight: optional('max-in-flight', values['max-in-flight'], positiveInt),
      maxEventLoopDelayMs: optional('max-lag-ms', values['max-lag-ms'], nonNegative),
      bodyLimit: optional('body-limit', values['body-limit'], positiveInt),
      cache: cacheEntries === 0 ? false : { maxEntries: cacheEntries },
    },
  };

  if (cluster.isWorker) return runWorker(cfg);
  if (values.index !== undefined && !hasIndex(cfg.indexDir)) {
    fail(`no saved index in ${values.index} (manifest.json missing); build one with npm run index -- --out ${values.index}`);
  }
  if (values.index === undefined) {
    await ensureIndex(cfg.indexDir, { log: (m) => logger.warn(m) });
  }
  if (workers === 1) {
    await serveSingle(cfg);
    return;
  }
  await runPrimary(cfg);
});
