/**
 * A cluster worker: a full server (app.ts) over its own copy of the engine. The primary hands it connections
 * ({conn}); its writes go to the primary (over IPC, or through the BullMQ queue with REDIS_URL) and come back as
 * {apply} messages that every worker applies in version order; GET /metrics asks the primary for every serving
 * worker's figures. The messages are in protocol.ts.
 *
 * It loads the base the primary named in its environment (the newest snapshot or the saved index), so a replacement
 * replays only the log after the newest snapshot. If it cannot load, it tells the primary why ({fatal}) and exits 1;
 * the primary retries with backoff and gives up after a few failures in a row.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import { createMetrics } from '../../observe/metrics.ts';
import { createServer } from '../app.ts';
import { loadServingEngine, redisCache, type ServeConfig } from '../config.ts';
import { HttpError } from '../http-errors.ts';
import { OrderedApplier, presenceAware, QueueWritePath, type WriteAck, type WritePath } from '../writes.ts';
import { isMessage, readWorkerEnv, type ToPrimary, type ToWorker } from './protocol.ts';

/** How long a draining worker waits for its in-flight requests before closing their connections. */
const DRAIN_GRACE_MS = 15_000;

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
  });
  const applier = new OrderedApplier((v, op) => server.applySequenced(v, op));

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

  const exitAfterDrain = (code: number) => {
    void drain().finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => exitAfterDrain(0));
  process.on('SIGINT', () => exitAfterDrain(0));
  process.on('disconnect', () => {
    // the primary is gone: no write can be acknowledged any more
    for (const p of pendingAcks.values()) {
      p.reject(new HttpError(503, 'the write was not acknowledged (the service is restarting): its outcome is unknown; retry it (see README: retries)'));
    }
    pendingAcks.clear();
    for (const p of pendingMetrics.values()) p.reject(new HttpError(503, 'metrics unavailable: the service is restarting'));
    pendingMetrics.clear();
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
          await Promise.all(m.ops.map(([seq, op]) => applier.apply(seq, op)));
          await queue?.ready();
          // a private loopback listener (not shared through the primary): it gives the HTTP server its connection
          // tracking and timeouts; clients reach this worker through the primary's port
          const url = await server.app.listen({ port: 0, host: '127.0.0.1', exclusive: true });
          listening = true;
          send({ t: 'listening', url });
        })().catch(async (err) => {
          log.error({ err }, 'worker failed to start');
          await sendNow({ t: 'fatal', message: `replay or listen failed: ${(err as Error).message}` });
          process.exit(1);
        });
        break;
      case 'apply':
        applier.apply(m.seq, m.op).then((outcome) => send({ t: 'applied', seq: m.seq, outcome }));
        break;
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
    const engine = await loadServingEngine(env.loadDir, cfg.engine);
    server.setEngine(engine, env.loadVersion);
  } catch (err) {
    await sendNow({ t: 'fatal', message: `cannot load ${env.loadDir}: ${(err as Error).message}` });
    throw err;
  }
  send({ t: 'loaded', version: env.loadVersion });
}
