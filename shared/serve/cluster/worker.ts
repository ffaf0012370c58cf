/**
 * A cluster worker: a full server (app.ts) over its own copy of the engine. The primary hands it connections
 * ({conn}); its writes go to the primary (over IPC, or through the BullMQ queue with REDIS_URL) and come back as
 * {apply} messages that every worker applies in version order; GET /metrics asks the primary for every serving
 * worker's figures. The messages are in protocol.ts.
 *
 * It loads the base the primary named in its environment (the newest snapshot or the saved index), so a replacement
 * replays only the log after the newest snapshot. If it cannot load, it tells the primary why ({fatal}) and exits 1;
 * the primary retries with backoff and gives up after a few failures in a row. Before it listens it runs a few
 * queries on its engine and a full GC (warmUp), so its first served queries are not the ones that pay for loading.
 *
 * Hot update (reload.ts): a worker started on the new index is an ordinary worker whose base is the copy. A worker
 * being replaced gets {retire seq, urls}; when it has applied every write before the reload record `seq`, it passes
 * every request that still reaches it on to the new workers (app.ts `retire`) and, once the primary stopped handing
 * it connections ({switched}), exits when its connections are gone.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import { createMetrics } from '../../observe/metrics.ts';
import { createServer } from '../app.ts';
import { loadServingEngine, redisCache, type ServeConfig } from '../config.ts';
import { HttpError } from '../http-errors.ts';
import { checkSavedIndex } from '../store/store.ts';
import type { ReloadResult } from '../reload.ts';
import { DocumentHistory } from '../store/history.ts';
import { OrderedApplier, presenceAware, QueueWritePath, type WriteAck, type WritePath } from '../writes.ts';
import { isMessage, readWorkerEnv, type ToPrimary, type ToWorker } from './protocol.ts';

/** How long a draining worker waits for its in-flight requests before closing their connections. */
const DRAIN_GRACE_MS = 15_000;
/** Queries a new worker runs on its own engine before it listens (warmUp). */
const WARM_UP_QUERIES = 40;
const WARM_UP_TEXT = ['the grand jury said', 'election results in the county', 'a new highway program', 'music and the theatre', 'what the committee decided', 'science of the atom', 'the old man went home', 'tax bill in the senate'];
/** A retired worker (hot update) closes connections that stayed idle this long (busy ones leave by themselves). */
const RETIRE_IDLE_MS = 2_000;

export async function runWorker(cfg: ServeConfig): Promise<void> {
  const send = (m: ToPrimary) => {
    if (process.connected) process.send!(m);
  };
  /** Sends and waits until the message left (before process.exit, which would drop it). */
  const sendNow = (m: ToPrimary) =>
    new Promise<void>((resolve) => (process.connected ? process.send!(m, undefined, {}, () => resolve()) : resolve()));
  const env = readWorkerEnv(cfg.indexDir);
  const wid = String(cluster.worker?.id ?? process.pid);
  const log = cfg.logger.child({ worker: wid });
  const pendingAcks = new Map<number, { resolve: (a: WriteAck) => void; reject: (e: Error) => void }>();
  const pendingMetrics = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  const pendingReloads = new Map<number, { resolve: (r: ReloadResult) => void; reject: (e: Error) => void }>();
  let nextId = 0;

  const ipcWrites: WritePath = {
    submit: (op, seen) =>
      new Promise<WriteAck>((resolve, reject) => {
        if (!process.connected) return reject(new HttpError(503, 'the write was not accepted: this worker is shutting down; retry it'));
        const id = ++nextId;
        pendingAcks.set(id, { resolve, reject });
        send({ t: 'write', id, op, seen });
      }),
  };
  const queue = cfg.redisUrl ? await QueueWritePath.open({ redisUrl: cfg.redisUrl, name: env.queueName }) : undefined;
  const metrics = createMetrics({ labels: { worker: wid } });
  const rc = redisCache(cfg.redisUrl, env.namespace, cfg.logger);
  const server = await createServer({
    ...cfg.server,
    logger: log,
    metrics,
    // no close(): the queue is closed after in-flight requests are done (drain), not when the HTTP server closes
    writes: presenceAware({ submit: (op, seen) => (queue ?? ipcWrites).submit(op, seen) }, () => ({ version: server.version, engine: server.engine })),
    cache: cfg.server.cache === false ? false : { ...cfg.server.cache, ...rc },
    metricsText: () =>
      new Promise<string>((resolve, reject) => {
        const id = ++nextId;
        pendingMetrics.set(id, { resolve, reject });
        send({ t: 'metrics', id });
      }),
    // the primary writes the document history; this worker reads the file (store/history.ts)
    history: cfg.durability ? DocumentHistory.openReader(cfg.durability.dataDir) : undefined,
    // a hot update runs in the primary (it owns the log); this worker stages and swaps like the others
    reload: (index) =>
      new Promise<ReloadResult>((resolve, reject) => {
        if (!process.connected) return reject(new HttpError(503, 'this worker is shutting down; retry it', { 'retry-after': '1' }));
        const id = ++nextId;
        pendingReloads.set(id, { resolve, reject });
        send({ t: 'reload', id, index });
      }),
  });
  /** Set by {retire}: the reload's version and the new workers' URLs. */
  let retireAt: { seq: number; urls: string[] } | undefined;
  /** Resolves on {switched}: the primary hands no more connections to this worker. */
  let onSwitched = () => {};
  const switched = new Promise<void>((r) => (onSwitched = r));
  const applier = new OrderedApplier((v, op) => {
    if (op.kind === 'reload' && retireAt?.seq === v) {
      // every write before the reload is applied here: from now on the new workers answer (app.ts: retire)
      server.retire(retireAt.urls);
      log.warn({ version: v, to: retireAt.urls }, 'reload: retired; requests that still reach this worker go to the new workers');
      void retireWhenIdle();
      return Promise.resolve({ ok: true, result: {} });
    }
    return server.applySequenced(v, op);
  });

  // connections handed over by the primary: tracked, so draining can wait for the requests on them
  const sockets = new Set<Socket>();
  let closing = false;
  let listening = false;

  let drained: Promise<void> | undefined;
  const drain = () =>
    (drained ??= (async () => {
      closing = true;
      const closed = server.close(); // 503 to new requests, `connection: close` on responses, idle connections closed
      const until = Date.now() + DRAIN_GRACE_MS;
      while (sockets.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      for (const s of sockets) s.destroy();
      await closed;
      await queue?.close();
      rc?.redis.disconnect();
    })());

  /**
   * A retired worker exits once no connection is left: each request it still gets is answered (by a new worker)
   * with `connection: close`, so busy connections go within one request; connections idle past RETIRE_IDLE_MS are
   * closed (as an idle keep-alive timeout would), then any left after DRAIN_GRACE_MS.
   */
  const retireWhenIdle = async () => {
    // connections handed over until the primary switched are still taken (and their requests passed on)
    await switched;
    const t0 = Date.now();
    let idleClosed = false;
    while (sockets.size > 0 && Date.now() - t0 < DRAIN_GRACE_MS) {
      if (!idleClosed && Date.now() - t0 > RETIRE_IDLE_MS) {
        idleClosed = true;
        server.app.server.closeIdleConnections();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const s of sockets) s.destroy();
    // in-flight acknowledgements (a write this worker forwarded, the reload's own answer) were on those connections
    await queue?.close();
    rc?.redis.disconnect();
    process.exit(0);
  };

  /**
   * Before it gets connections: a few queries on its own engine (the query path compiled by the JIT) and a full
   * garbage collection (the garbage of loading collected now, not in the first seconds of serving). Measured under a
   * hot update (README "Hot update"): without it, the new workers' first seconds of serving shed queries.
   */
  const warmUp = async () => {
    const engine = server.engine;
    if (!engine) return;
    for (let i = 0; i < WARM_UP_QUERIES; i++) {
      await engine.query(WARM_UP_TEXT[i % WARM_UP_TEXT.length], { k: 10, mode: 'hybrid', answer: true }).catch(() => {});
    }
    (globalThis as { gc?: () => void }).gc?.();
  };

  const exitAfterDrain = (code: number) => {
    void drain().finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => exitAfterDrain(0));
  process.on('SIGINT', () => exitAfterDrain(0));
  // a SIGHUP to the whole process group reloads once, in the primary; here it must not end the worker
  process.on('SIGHUP', () => {});
  process.on('disconnect', () => {
    // the primary is gone: no write can be acknowledged any more
    for (const p of pendingAcks.values()) {
      p.reject(new HttpError(503, 'the write was not acknowledged (the service is restarting): its outcome is unknown; retry it (see README: retries)'));
    }
    pendingAcks.clear();
    for (const p of pendingMetrics.values()) p.reject(new HttpError(503, 'metrics unavailable: the service is restarting'));
    pendingMetrics.clear();
    for (const p of pendingReloads.values()) p.reject(new HttpError(503, 'the reload was not acknowledged (the service is restarting): see the log for its outcome'));
    pendingReloads.clear();
    exitAfterDrain(0);
  });

  process.on('message', (msg: unknown, handle?: unknown) => {
    if (!isMessage(msg)) return;
    const m = msg as ToWorker;
    switch (m.t) {
      case 'conn': {
        const socket = handle as Socket | undefined;
        send({ t: 'conn-ok', id: m.id });
        if (!socket) return;
        if (closing || !listening) {
          socket.destroy();
          return;
        }
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        server.app.server.emit('connection', socket);
        socket.resume();
        break;
      }
      case 'replay':
        (async () => {
          // chained in order, so an {apply} arriving meanwhile queues behind them
          const outcomes = await Promise.all(m.ops.map(([seq, op]) => applier.apply(seq, op)));
          const failed = outcomes.find((o) => !o.ok && o.code === 'RELOAD_FAILED');
          if (failed && !failed.ok) throw new Error(failed.message);
          await queue?.ready();
          await warmUp();
          // a private loopback listener (not shared through the primary): it gives the HTTP server its connection
          // tracking and timeouts; clients reach this worker through the primary's port
          const url = await server.app.listen({ port: 0, host: '127.0.0.1', exclusive: true });
          // loading, the warm-up and its GC stalled the loop: that is not load, and must not shed the first queries
          server.resetPressure();
          listening = true;
          send({ t: 'listening', url });
        })().catch(async (err) => {
          log.error({ err }, 'worker failed to start');
          await sendNow({ t: 'fatal', message: `replay or listen failed: ${(err as Error).message}` });
          process.exit(1);
        });
        break;
      case 'apply':
        applier.apply(m.seq, m.op).then((outcome) => {
          if (m.op.kind === 'reload' && outcome.ok && retireAt?.seq !== m.seq) {
            // a new worker gets its first connections now: what its event loop did while idle is not load
            server.resetPressure();
            log.warn({ version: m.seq, dir: m.op.dir }, 'reload: swapped to the new index');
          }
          send({ t: 'applied', seq: m.seq, outcome });
        });
        break;
      case 'retire':
        // a hot update replaces this worker: at version m.seq it hands over to the new workers (applier below)
        retireAt = { seq: m.seq, urls: m.urls };
        break;
      case 'switched':
        onSwitched();
        break;
      case 'reloaded': {
        const p = pendingReloads.get(m.id);
        pendingReloads.delete(m.id);
        if (m.result) p?.resolve(m.result);
        else p?.reject(new HttpError(m.status ?? 500, m.error ?? 'reload failed'));
        break;
      }
      case 'snapshot': {
        const version = m.version;
        applier
          .barrier(async () => {
            if (server.version !== version) throw new Error(`asked for a snapshot of version ${version} at version ${server.version}`);
            await server.engine!.save(m.dir, { meta: { version } });
          })
          .then(
            () => send({ t: 'snapshotted', version }),
            (err) => send({ t: 'snapshotted', version, error: (err as Error).message }),
          );
        break;
      }
      case 'ack': {
        const p = pendingAcks.get(m.id);
        pendingAcks.delete(m.id);
        if (m.ack) p?.resolve(m.ack);
        else p?.reject(new HttpError(m.status ?? 503, m.error ?? 'write failed'));
        break;
      }
      case 'metrics': {
        const p = pendingMetrics.get(m.id);
        pendingMetrics.delete(m.id);
        if (m.text !== undefined) p?.resolve(m.text);
        else p?.reject(new HttpError(503, m.error ?? 'metrics unavailable'));
        break;
      }
      case 'metrics-req':
        metrics.registry.getMetricsAsJSON().then(
          (data) => send({ t: 'metrics-data', id: m.id, data }),
          (err) => send({ t: 'metrics-data', id: m.id, error: (err as Error).message }),
        );
        break;
      case 'drain':
        void drain().then(() => send({ t: 'drained' }));
        break;
      case 'exit':
        process.exit(0);
    }
  });

  try {
    if (env.loadSavedAt) {
      const now = checkSavedIndex(env.loadDir);
      if (now !== env.loadSavedAt) {
        throw new Error(
          `the folder was rebuilt while the service serves it (the service serves the index saved at ${env.loadSavedAt}; ` +
            `the folder now holds one saved at ${now}) and this service has no data directory holding a copy: a worker ` +
            'started now would replay the writes on top of another index. Hot-update to it (POST /v1/admin/reload or ' +
            'SIGHUP), or serve with a data directory (npm run serve does), which serves its own copy',
        );
      }
    }
    const engine = await loadServingEngine(env.loadDir, cfg.engine);
    server.setEngine(engine, env.loadVersion, env.loadDir);
  } catch (err) {
    await sendNow({ t: 'fatal', message: `cannot load ${env.loadDir}: ${(err as Error).message}` });
    throw err;
  }
  send({ t: 'loaded', version: env.loadVersion });
}
