/**
 * Cluster mode: a primary process and N workers (node:cluster) that each load the same saved index and share the
 * listening port.
 *
 * Writes reach every worker, in one order, before they are acknowledged:
 *
 *   client ──POST──▶ worker A ──IPC {write}──▶ primary: Sequencer gives it version v, appends it to the op log,
 *                                              sends {apply v} to every live worker
 *   every worker: applies v to its engine (in version order), moves its cache to version v, answers {applied v}
 *   primary: once every live worker answered ──IPC {ack v}──▶ worker A ──200 {version: v}──▶ client
 *
 * With REDIS_URL the first hop is a BullMQ job instead (durable, ordered), consumed by a single BullMQ worker in the
 * primary that feeds the same Sequencer; the fan-out stays on IPC.
 *
 * So when a client holds an acknowledgement for version v, every worker already answers at version ≥ v, and every
 * cache key (in-process or Redis) it builds names version ≥ v: nothing computed before the write can be served.
 *
 * A worker that dies is replaced; the new one loads the saved index, receives the op log (every write since start)
 * and applies it before it starts listening, so it joins at the current version. SIGTERM / SIGINT: the primary tells
 * every worker to close (stop accepting, finish in-flight requests), waits for them, then exits.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type pino from 'pino';
import { Redis } from 'ioredis';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { loadEngine, type EngineConfig } from '../engine.ts';
import { createMetrics } from '../observe/metrics.ts';
import { createServer, type RagServer, type ServerOptions } from './app.ts';
import { CachingEmbedder } from './cache.ts';
import {
  QueueWritePath,
  Sequencer,
  startQueueConsumer,
  type ApplyOutcome,
  type WriteAck,
  type WriteOp,
  type WritePath,
} from './writes.ts';

export interface ServeConfig {
  indexDir: string;
  port: number;
  host: string;
  /** Worker processes; 1 = no cluster (the server runs in this process). */
  workers: number;
  redisUrl?: string;
  /** Query-time engine settings over the saved index's (candidate depth, HNSW beam of hybrid queries). */
  engine?: Partial<Pick<EngineConfig, 'candidates' | 'hybridEf'>>;
  server: Omit<ServerOptions, 'engine' | 'writes' | 'metrics' | 'metricsText' | 'logger' | 'version'>;
  logger: pino.Logger;
}

type ToWorker =
  | { t: 'replay'; ops: Array<[number, WriteOp]>; namespace: string }
  | { t: 'apply'; seq: number; op: WriteOp }
  | { t: 'ack'; id: number; ack?: WriteAck; error?: string }
  | { t: 'metrics'; id: number; text?: string; error?: string }
  | { t: 'shutdown' };

type ToPrimary =
  | { t: 'loaded' }
  | { t: 'listening'; url: string }
  | { t: 'write'; id: number; op: WriteOp }
  | { t: 'applied'; seq: number; outcome: ApplyOutcome }
  | { t: 'metrics'; id: number };

const isMsg = (m: unknown): m is { t: string } => typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

/** Loads the saved engine with the caching embedder in front of the default one. */
async function loadServingEngine(dir: string, overrides: ServeConfig['engine'] = {}) {
  const embedder = new CachingEmbedder(await createDefaultEmbedder());
  return loadEngine(dir, { ...overrides, embedder });
}

function redisCache(url: string | undefined, namespace: string, logger: pino.Logger) {
  if (!url) return undefined;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis cache unavailable; serving from memory only'));
  return { redis, namespace };
}

// ---------------------------------------------------------------------------------------------------------------------
// Single process

export async function serveSingle(cfg: ServeConfig): Promise<RagServer> {
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const queue = cfg.redisUrl ? new QueueWritePath({ redisUrl: cfg.redisUrl, name: queueName }) : undefined;
  const rc = redisCache(cfg.redisUrl, namespace, cfg.logger);
  const server = await createServer({
    ...cfg.server,
    logger: cfg.logger,
    writes: queue,
    cache: cfg.server.cache === false ? false : { ...cfg.server.cache, ...rc },
  });
  server.setEngine(await loadServingEngine(cfg.indexDir, cfg.engine));
  const consumer = queue
    ? startQueueConsumer({ redisUrl: cfg.redisUrl!, name: queueName }, new Sequencer((v, op) => server.applySequenced(v, op)))
    : undefined;
  await queue?.ready();
  const url = await server.listen(cfg.port, cfg.host);
  cfg.logger.warn({ url, index: cfg.indexDir, writes: queue ? 'bullmq' : 'in-process' }, 'serving');
  const shutdown = onceSignal(async () => {
    cfg.logger.warn('shutting down: finishing in-flight requests');
    await server.close();
    await consumer?.close();
    rc?.redis.disconnect();
  });
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return server;
}

function onceSignal(fn: () => Promise<void>): () => void {
  let started = false;
  return () => {
    if (started) return;
    started = true;
    fn().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`error during shutdown: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Primary

export async function runPrimary(cfg: ServeConfig): Promise<void> {
  const log = cfg.logger;
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const opLog: Array<[number, WriteOp]> = [];
  const live = new Set<ClusterWorker>();
  /** seq → workers that still have to apply it. */
  const waiting = new Map<number, { pending: Set<number>; outcome?: ApplyOutcome; done: () => void }>();
  const aggregator = new AggregatorRegistry();
  let shuttingDown = false;
  let listening = 0;

  const fanout = (seq: number, op: WriteOp): Promise<ApplyOutcome> =>
    new Promise((resolve) => {
      opLog.push([seq, op]);
      const targets = [...live];
      const entry = {
        pending: new Set(targets.map((w) => w.id)),
        outcome: undefined as ApplyOutcome | undefined,
        done: () => {
          waiting.delete(seq);
          resolve(entry.outcome ?? { ok: false, code: 'UNAVAILABLE', message: 'no worker applied the write' });
        },
      };
      waiting.set(seq, entry);
      for (const w of targets) w.send({ t: 'apply', seq, op } satisfies ToWorker);
      if (entry.pending.size === 0) entry.done();
    });
  const sequencer = new Sequencer(fanout);
  const consumer = cfg.redisUrl ? startQueueConsumer({ redisUrl: cfg.redisUrl, name: queueName }, sequencer) : undefined;

  const forget = (w: ClusterWorker) => {
    live.delete(w);
    for (const entry of waiting.values()) {
      if (entry.pending.delete(w.id) && entry.pending.size === 0) entry.done();
    }
  };

  const onMessage = (w: ClusterWorker, msg: unknown) => {
    if (!isMsg(msg)) return;
    const m = msg as ToPrimary;
    switch (m.t) {
      case 'loaded':
        // replay every write so far, then count the worker in for every later one (same tick: nothing is missed)
        w.send({ t: 'replay', ops: opLog, namespace } satisfies ToWorker);
        live.add(w);
        break;
      case 'listening':
        if (++listening === cfg.workers) log.warn({ url: m.url, workers: cfg.workers, index: cfg.indexDir }, 'serving');
        break;
      case 'write':
        sequencer.submit(m.op).then(
          (ack) => w.isConnected() && w.send({ t: 'ack', id: m.id, ack } satisfies ToWorker),
          (err) => w.isConnected() && w.send({ t: 'ack', id: m.id, error: (err as Error).message } satisfies ToWorker),
        );
        break;
      case 'applied': {
        const entry = waiting.get(m.seq);
        if (!entry) break;
        entry.outcome ??= m.outcome;
        if (entry.pending.delete(w.id) && entry.pending.size === 0) entry.done();
        break;
      }
      case 'metrics':
        aggregator.clusterMetrics().then(
          (text) => w.isConnected() && w.send({ t: 'metrics', id: m.id, text } satisfies ToWorker),
          (err) => w.isConnected() && w.send({ t: 'metrics', id: m.id, error: (err as Error).message } satisfies ToWorker),
        );
        break;
    }
  };

  const fork = () => {
    const w = cluster.fork({ RAG_CLUSTER_NAMESPACE: namespace, RAG_QUEUE_NAME: queueName });
    w.on('message', (msg) => onMessage(w, msg));
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    forget(w);
    if (shuttingDown) return;
    log.error({ worker: w.id, code, signal }, 'worker died; starting a replacement');
    fork();
  });
  for (let i = 0; i < cfg.workers; i++) fork();

  const shutdown = onceSignal(async () => {
    shuttingDown = true;
    log.warn('shutting down: workers finish their in-flight requests');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is ClusterWorker => w !== undefined);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => {
              w.kill('SIGKILL');
              resolve();
            }, 15_000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (w.isConnected()) w.send({ t: 'shutdown' } satisfies ToWorker);
          }),
      ),
    );
    await consumer?.close();
  });
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

// ---------------------------------------------------------------------------------------------------------------------
// Worker

export async function runWorker(cfg: ServeConfig): Promise<void> {
  const send = (m: ToPrimary) => process.send!(m);
  const namespace = process.env.RAG_CLUSTER_NAMESPACE ?? 'default';
  const wid = String(cluster.worker?.id ?? process.pid);
  const pendingAcks = new Map<number, { resolve: (a: WriteAck) => void; reject: (e: Error) => void }>();
  const pendingMetrics = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  let nextId = 0;

  const ipcWrites: WritePath = {
    submit: (op) =>
      new Promise<WriteAck>((resolve, reject) => {
        const id = ++nextId;
        pendingAcks.set(id, { resolve, reject });
        send({ t: 'write', id, op });
      }),
  };
  const queue = cfg.redisUrl ? new QueueWritePath({ redisUrl: cfg.redisUrl, name: process.env.RAG_QUEUE_NAME ?? `rag-writes-${namespace}` }) : undefined;
  const metrics = createMetrics({ labels: { worker: wid } });
  AggregatorRegistry.setRegistries([metrics.registry]);
  // prom-client answers the primary's metrics requests only once an AggregatorRegistry exists in this process too
  new AggregatorRegistry();
  const rc = redisCache(cfg.redisUrl, namespace, cfg.logger);
  const server = await createServer({
    ...cfg.server,
    logger: cfg.logger.child({ worker: wid }),
    metrics,
    writes: queue ?? ipcWrites,
    cache: cfg.server.cache === false ? false : { ...cfg.server.cache, ...rc },
    metricsText: () =>
      new Promise<string>((resolve, reject) => {
        const id = ++nextId;
        pendingMetrics.set(id, { resolve, reject });
        send({ t: 'metrics', id });
      }),
  });

  let closing = false;
  const shutdown = onceSignal(async () => {
    closing = true;
    await server.close();
    rc?.redis.disconnect();
  });
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('disconnect', () => {
    if (!closing) shutdown();
  });

  process.on('message', (msg: unknown) => {
    if (!isMsg(msg)) return;
    const m = msg as ToWorker;
    switch (m.t) {
      case 'replay':
        (async () => {
          // chain every replayed op synchronously, so an {apply} arriving meanwhile queues behind them
          await Promise.all(m.ops.map(([seq, op]) => server.applySequenced(seq, op)));
          await queue?.ready();
          const url = await server.listen(cfg.port, cfg.host);
          send({ t: 'listening', url });
        })().catch((err) => {
          cfg.logger.error({ err }, 'worker failed to start');
          process.exit(1);
        });
        break;
      case 'apply':
        server.applySequenced(m.seq, m.op).then((outcome) => send({ t: 'applied', seq: m.seq, outcome }));
        break;
      case 'ack': {
        const p = pendingAcks.get(m.id);
        pendingAcks.delete(m.id);
        if (m.ack) p?.resolve(m.ack);
        else p?.reject(new Error(m.error ?? 'write failed'));
        break;
      }
      case 'metrics': {
        const p = pendingMetrics.get(m.id);
        pendingMetrics.delete(m.id);
        if (m.text !== undefined) p?.resolve(m.text);
        else p?.reject(new Error(m.error ?? 'metrics unavailable'));
        break;
      }
      case 'shutdown':
        shutdown();
        break;
    }
  });

  server.setEngine(await loadServingEngine(cfg.indexDir, cfg.engine));
  send({ t: 'loaded' });
}
