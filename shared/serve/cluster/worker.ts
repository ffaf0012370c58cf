/**
 * A cluster worker: a full server (app.ts) over its own copy of the saved engine, sharing the port with the other
 * workers. Its writes go to the primary (over IPC, or through the BullMQ queue with REDIS_URL) and come back as
 * {apply} messages that every worker applies in version order; GET /metrics asks the primary for every worker's
 * metrics. The messages are in protocol.ts.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { createMetrics } from '../../observe/metrics.ts';
import { createServer } from '../app.ts';
import { loadServingEngine, redisCache, type ServeConfig } from '../config.ts';
import { onceSignal } from '../shutdown.ts';
import { QueueWritePath, type WriteAck, type WritePath } from '../writes.ts';
import { isMessage, readWorkerEnv, type ToPrimary, type ToWorker } from './protocol.ts';

export async function runWorker(cfg: ServeConfig): Promise<void> {
  const send = (m: ToPrimary) => process.send!(m);
  const { namespace, queueName } = readWorkerEnv();
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
  const queue = cfg.redisUrl ? new QueueWritePath({ redisUrl: cfg.redisUrl, name: queueName }) : undefined;
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
    if (!isMessage(msg)) return;
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
