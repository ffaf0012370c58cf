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
import { ACCESS_FLAGS, ACCESS_USAGE, accessOptions, prepareKeys } from './access-cli.ts';
import { ensureIndex, hasIndex } from './build-index.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { runPrimary } from './cluster/primary.ts';
import { runWorker } from './cluster/worker.ts';
import type { DurabilityConfig, ServeConfig } from './config.ts';
import { FSYNC_MODES, type FsyncMode } from './store/wal.ts';
import { serveSingle } from './single.ts';
import { EMBEDDER_FLAGS, EMBEDDER_USAGE, embedderChoice, type EmbedderChoice } from '../model/serving.ts';

const USAGE = `
Usage: npm run serve -- [--index <dir>] [--workers N] [--port P] [--host H] [options]

Serves a saved index (npm run index) over HTTP:
  POST /v1/query {query, k?, mode?, filter?, answer?}   POST /v1/documents {documents: [...]}
  DELETE /v1/documents/:id   DELETE /v1/documents {ids: [...]}   GET /v1/whoami
  GET /healthz   GET /readyz   GET /metrics   GET /openapi.json   POST /v1/admin/reload {index?}
Writes need "Authorization: Bearer <key>" with the write scope, /metrics and reloads the admin scope (see --keys-file).

Options:
  --index <dir>            saved index to serve (default: .cache/idx-brown, built from the Brown corpus on first start).
                           The service serves a copy of it in its data directory: rebuilding <dir> while it runs
                           changes nothing until a hot update (below)
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
  --cache-mb MB            … and its byte cap per process (default 64, env CACHE_MB)
  --embedding-cache-mb MB  byte cap of the query-embedding cache per process (default 16, env EMBEDDING_CACHE_MB)
${EMBEDDER_USAGE}
  --ingest-slice-ms MS     an ingest works in slices of this many ms, answering queries in between (default 4,
                           env INGEST_SLICE_MS)
  --ingest-share F         while queries keep arriving, an ingest takes at most this share of a worker's time
                           (default 0.2, 1 = no limit, env INGEST_SHARE)
  --candidates N           hits each retriever hands to hybrid fusion (default: the index's, 20)
  --hybrid-ef N            HNSW beam for the dense list of hybrid queries (default: the index's, 24); more of
                           either buys a little quality for speed (npm run bench:query shows the trade)
  --data-dir <dir>         write-ahead log + snapshots: every acknowledged write survives a crash (default
                           <index>.data beside the index, env DATA_DIR); one server per data directory
  --wal-fsync MODE         group (default: fsync before the 200, writes arriving meanwhile share one fsync),
                           every (one fsync per write), off (no fsync: survives a process crash, not power loss)
                           (env WAL_FSYNC)
  --snapshot-every N       snapshot after N writes (default 10000, env SNAPSHOT_EVERY)
  --snapshot-mb MB         … or after MB of write-ahead log (default 64, env SNAPSHOT_MB)
  --snapshot-interval S    … or every S seconds if anything was written (default 300, 0 = never; env
                           SNAPSHOT_INTERVAL); and always on graceful shutdown (SIGTERM / SIGINT)
  --max-start-failures N   cluster: a worker that dies before serving is re-forked after 0.5, 1, 2, 4, 8 s;
                           after N failures in a row the service exits 1 with the reason (default 5,
                           env MAX_START_FAILURES)
  --spare-workers N        cluster: N more workers kept loaded and up to date without connections; one takes a
                           dead worker's place at once instead of after a start of several seconds (default 0,
                           env SPARE_WORKERS; each costs a worker's memory)
  --reload-nice N          cluster: scheduling priority (nice, 0-19) of the new workers a hot update starts, while
                           they load beside the serving ones; restored when they serve (needs CAP_SYS_NICE, else
                           they keep it). 0 = same as the others (default 10, env RELOAD_NICE)
  -h, --help               show this help
${ACCESS_USAGE}

Hot update (no restart, no failed request, no lost write): POST /v1/admin/reload {"index": "<dir>"} with an admin
key answers once every worker serves <dir> (400: not a saved index, 422: it does not load, 409: a reload is
running; nothing changes in each case). Without "index", or on SIGHUP (kill -HUP <pid>, outcome in the log): the
--index folder again, e.g. after npm run index -- --out <that dir>. See shared/serve/README.md "Hot update".

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
    'cache-mb': { type: 'string' },
    'embedding-cache-mb': { type: 'string' },
    'ingest-slice-ms': { type: 'string' },
    'ingest-share': { type: 'string' },
    candidates: { type: 'string' },
    'hybrid-ef': { type: 'string' },
    'data-dir': { type: 'string' },
    'wal-fsync': { type: 'string' },
    'snapshot-every': { type: 'string' },
    'snapshot-mb': { type: 'string' },
    'snapshot-interval': { type: 'string' },
    'max-start-failures': { type: 'string' },
    'spare-workers': { type: 'string' },
    'reload-nice': { type: 'string' },
    ...ACCESS_FLAGS,
    ...EMBEDDER_FLAGS,
  });
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const nonNegative = (n: number) => n >= 0;
  const workers = numberFlag('workers', values.workers ?? process.env.WORKERS, 1, positiveInt);
  const port = numberFlag('port', values.port ?? process.env.PORT, 8080, (n) => Number.isInteger(n) && n >= 0 && n < 65536);
  const cacheEntries = numberFlag('cache-entries', values['cache-entries'], 20_000, (n) => Number.isInteger(n) && n >= 0);
  const megabytes = (name: string, v: string | undefined, dflt: number) => Math.floor(numberFlag(name, v, dflt, (n) => n > 0 && n <= 65_536) * 2 ** 20);
  const cacheBytes = megabytes('cache-mb', values['cache-mb'] ?? process.env.CACHE_MB, 64);
  const embeddingCacheBytes = megabytes('embedding-cache-mb', values['embedding-cache-mb'] ?? process.env.EMBEDDING_CACHE_MB, 16);
  const ingestSliceMs = numberFlag('ingest-slice-ms', values['ingest-slice-ms'] ?? process.env.INGEST_SLICE_MS, 4, (n) => n >= 0 && n <= 1000);
  const ingestShare = numberFlag('ingest-share', values['ingest-share'] ?? process.env.INGEST_SHARE, 0.2, (n) => n > 0 && n <= 1);
  const optional = (name: string, v: string | undefined, check: (n: number) => boolean) =>
    v === undefined ? undefined : numberFlag(name, v, 0, check);
  let embedder: EmbedderChoice;
  try {
    embedder = embedderChoice(values);
  } catch (err) {
    fail((err as Error).message);
  }
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  const host = values.host ?? process.env.HOST ?? '127.0.0.1';
  const access = accessOptions(values, host, process.env.REDIS_URL || undefined);

  const indexDir = resolve(values.index ?? `${REPO_ROOT}/.cache/idx-brown`);
  const walFsync = values['wal-fsync'] ?? process.env.WAL_FSYNC ?? 'group';
  if (!(FSYNC_MODES as readonly string[]).includes(walFsync)) fail(`--wal-fsync got "${walFsync}"; use one of ${FSYNC_MODES.join(', ')}`);
  const durability: DurabilityConfig = {
    dataDir: resolve(values['data-dir'] ?? process.env.DATA_DIR ?? `${indexDir}.data`),
    fsync: walFsync as FsyncMode,
    snapshot: {
      everyWrites: numberFlag('snapshot-every', values['snapshot-every'] ?? process.env.SNAPSHOT_EVERY, 10_000, positiveInt),
      everyBytes: numberFlag('snapshot-mb', values['snapshot-mb'] ?? process.env.SNAPSHOT_MB, 64, (n) => n > 0) * 2 ** 20,
      intervalMs: numberFlag('snapshot-interval', values['snapshot-interval'] ?? process.env.SNAPSHOT_INTERVAL, 300, nonNegative) * 1000,
    },
  };
  const maxStartFailures = numberFlag('max-start-failures', values['max-start-failures'] ?? process.env.MAX_START_FAILURES, 5, positiveInt);

  const spareWorkers = numberFlag('spare-workers', values['spare-workers'] ?? process.env.SPARE_WORKERS, 0, (n) => Number.isInteger(n) && n >= 0);
  const reloadNice = numberFlag('reload-nice', values['reload-nice'] ?? process.env.RELOAD_NICE, 10, (n) => Number.isInteger(n) && n >= 0 && n <= 19);

  const cfg: ServeConfig = {
    durability,
    maxStartFailures,
    spareWorkers,
    reloadNice,
    indexDir,
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    workers,
    redisUrl: process.env.REDIS_URL || undefined,
    engine: {
      candidates: optional('candidates', values.candidates, (n) => positiveInt(n) && n <= 1000),
      hybridEf: optional('hybrid-ef', values['hybrid-ef'], (n) => positiveInt(n) && n <= 10_000),
      ingestSliceMs,
      ingestShare,
      embeddingCacheBytes,
      embedder,
    },
    logger,
    server: {
      deadlineMs: optional('deadline-ms', values['deadline-ms'], positiveInt),
      maxInFlight: optional('max-in-flight', values['max-in-flight'], positiveInt),
      maxEventLoopDelayMs: optional('max-lag-ms', values['max-lag-ms'], nonNegative),
      bodyLimit: optional('body-limit', values['body-limit'], positiveInt),
      cache: cacheEntries === 0 ? false : { maxEntries: cacheEntries, maxBytes: cacheBytes },
      ...access.server,
    },
  };

  if (cluster.isWorker) return runWorker(cfg);
  if (values.index !== undefined && !hasIndex(cfg.indexDir)) {
    fail(`no saved index in ${values.index} (manifest.json missing); build one with npm run index -- --out ${values.index}`);
  }
  if (values.index === undefined) {
    await ensureIndex(cfg.indexDir, { log: (m) => logger.warn(m) });
  }
  // first start: a key is created and printed here, after any index build, so it is not lost among its lines
  prepareKeys(access.keysFile, (m) => logger.warn(m));
  if (workers === 1) {
    await serveSingle(cfg);
    return;
  }
  await runPrimary(cfg);
});
