/**
 * The cluster primary: forks the workers, numbers every write (one Sequencer for the cluster), fans it out to every
 * live worker and acknowledges it once all of them applied it (the protocol is in protocol.ts). It serves no
 * requests itself.
 *
 * A worker that dies is replaced; the new one loads the saved index, receives the op log (every write since start)
 * and applies it before it starts listening, so it joins at the current version. SIGTERM / SIGINT: the primary tells
 * every worker to close (stop accepting, finish in-flight requests), waits for them, then exits.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { ServeConfig } from '../config.ts';
import { onceSignal } from '../shutdown.ts';
import { Sequencer, startQueueConsumer, type ApplyOutcome, type WriteOp } from '../writes.ts';
import { isMessage, workerEnv, type ToPrimary, type ToWorker } from './protocol.ts';

/** How long a worker gets to finish its in-flight requests at shutdown before it is killed. */
const WORKER_SHUTDOWN_GRACE_MS = 15_000;

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
    if (!isMessage(msg)) return;
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
    const w = cluster.fork(workerEnv(namespace, queueName));
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
            }, WORKER_SHUTDOWN_GRACE_MS);
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
