/**
 * The cluster primary: owns the port, the write-ahead log and the snapshots; forks the workers, hands them
 * connections, numbers every write (one Sequencer for the cluster), makes it durable, fans it out to every live
 * worker and acknowledges it once all of them applied it (the protocol is in protocol.ts). It holds no engine: one
 * worker writes each snapshot, at a version the primary names (a second copy of the index in the primary would cost
 * as much memory as a worker, for a job that takes seconds every few thousand writes).
 *
 * A worker that dies is replaced; the replacement loads the newest snapshot and gets only the log after it, so it
 * joins at the current version. Starting a worker takes seconds (Node, modules, the embedder, the index); with
 * `spareWorkers` (--spare-workers) that many extra workers are kept loaded and up to date but get no connections, and
 * one takes the dead worker's place at once while a new spare starts. A worker that dies before it ever served (it cannot load its index) is re-forked
 * after 0.5, 1, 2, 4 … s (capped at 8 s); after `maxStartFailures` such failures in a row the service stops and exits
 * 1 with the last reason. SIGTERM / SIGINT: stop accepting, let every worker finish its in-flight requests, take a
 * last snapshot, then exit 0.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer as createNetServer, type Socket } from 'node:net';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { ServeConfig } from '../config.ts';
import { registerStoreMetrics } from '../store/metrics.ts';
import { SnapshotScheduler } from '../store/snapshots.ts';
import { DurableStore } from '../store/store.ts';
import { Sequencer, startQueueConsumer, type ApplyOutcome, type WriteOp } from '../writes.ts';
import { isMessage, workerEnv, type ToPrimary, type ToWorker, type WorkerMetrics } from './protocol.ts';

/** How long a worker gets to finish its in-flight requests at shutdown before it is killed. */
const WORKER_SHUTDOWN_GRACE_MS = 20_000;
/** Re-fork delay after a failed start: BASE × 2^(failures − 1), at most CAP. */
const START_BACKOFF_BASE_MS = 500;
const START_BACKOFF_CAP_MS = 8_000;
/** How long GET /metrics waits for each worker's figures; a worker that does not answer in time is left out. */
const METRICS_TIMEOUT_MS = 2_000;
/** Connections accepted while no worker serves (start, or every worker being replaced) wait at most this long. */
const PENDING_CONN_TIMEOUT_MS = 10_000;
const PENDING_CONN_MAX = 1024;

interface WorkerState {
  w: ClusterWorker;
  /** Receives every {apply} (loaded and replayed). */
  live: boolean;
  /** Gets connections (listening, not a spare, not draining). */
  serving: boolean;
  /** Reached listening (started successfully). */
  ready: boolean;
  /** A hot spare: loaded, receives every write, gets no connections until a serving worker dies. */
  spare: boolean;
  forkedAt: number;
  /** The version of the base (snapshot or saved index) it was forked to load. */
  baseVersion: number;
  /** Releases the base it was forked to load, once it has it. */
  unpin: () => void;
  /** Connections sent to it, kept open here until it confirms it has them. */
  transit: Map<number, Socket>;
  /** Why it could not start, as it said. */
  fatal?: string;
  onDrained?: () => void;
}

/** The op log when there is no data directory: in memory, from version 0, never trimmed (writes are lost at exit). */
function memoryLog(indexDir: string) {
  const ops: Array<[number, WriteOp]> = [];
  return {
    base: { dir: indexDir, version: 0 },
    version: 0,
    ops: (after: number) => ops.filter(([v]) => v > after),
    append(v: number, op: WriteOp) {
      ops.push([v, op]);
      return Promise.resolve({ bytes: 0 });
    },
    pin: (_v: number) => () => {},
    beginSnapshot: (_v: number): string => {
      throw new Error('no data directory');
    },
  };
}

export async function runPrimary(cfg: ServeConfig): Promise<void> {
  const log = cfg.logger;
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const maxStartFailures = cfg.maxStartFailures ?? 5;
  const store = cfg.durability
    ? await DurableStore.open({ dataDir: cfg.durability.dataDir, indexDir: cfg.indexDir, fsync: cfg.durability.fsync, log })
    : undefined;
  const oplog = store ?? memoryLog(cfg.indexDir);
  if (store) {
    log.warn({ data: store.dataDir, base: store.base.dir, baseVersion: store.base.version, replay: store.version - store.base.version }, 'recovered: snapshot + write-ahead log');
  }

  const workers = new Map<number, WorkerState>();
  /** seq → workers that still have to apply it. */
  const waiting = new Map<number, { pending: Set<number>; outcome?: ApplyOutcome; done: () => void }>();
  let shuttingDown = false;
  let announced = false;
  let startFailures = 0;
  let walFailed = false;
  const serving = () => [...workers.values()].filter((x) => x.serving);
  const spares = () => [...workers.values()].filter((x) => x.spare);
  const spareWorkers = cfg.spareWorkers ?? 0;

  // ---- writes: log (fsync, group commit) → apply everywhere → ack
  let scheduler: SnapshotScheduler | undefined;
  const walFatal = (err: Error, version: number) => {
    if (walFailed) return;
    walFailed = true;
    log.fatal({ err: err.message, version }, 'the write-ahead log failed: exiting (a restart recovers every acknowledged write from the log)');
    process.stderr.write(`error: the write-ahead log failed: ${err.message}\n`);
    setTimeout(() => process.exit(1), 200).unref();
  };
  const fanout = (seq: number, op: WriteOp): Promise<ApplyOutcome> =>
    new Promise((resolve, reject) => {
      // appends resolve in version order, so the {apply} messages go out in version order
      oplog.append(seq, op).then(
        ({ bytes }) => {
          const targets = [...workers.values()].filter((x) => x.live);
          const entry = {
            pending: new Set(targets.map((x) => x.w.id)),
            outcome: undefined as ApplyOutcome | undefined,
            done: () => {
              waiting.delete(seq);
              resolve(entry.outcome ?? { ok: false, code: 'UNAVAILABLE', message: 'no worker applied the write; it is in the log and will be applied when one starts' });
            },
          };
          waiting.set(seq, entry);
          for (const x of targets) x.w.send({ t: 'apply', seq, op } satisfies ToWorker);
          scheduler?.noteWrite(seq, bytes);
          if (entry.pending.size === 0) entry.done();
        },
        (err: Error) => {
          walFatal(err, seq);
          reject(Object.assign(new Error('the write could not be made durable (write-ahead log failed); it was not applied; retry it once the service is back'), { statusCode: 503 }));
        },
      );
    });
  const sequencer = new Sequencer(fanout, oplog.version);
  const consumer = cfg.redisUrl ? await startQueueConsumer({ redisUrl: cfg.redisUrl, name: queueName }, sequencer) : undefined;

  // ---- snapshots: one worker writes its engine at a version named here
  let snapshotWait: { worker: number; version: number; resolve: () => void; reject: (e: Error) => void } | undefined;
  if (store && cfg.durability) {
    scheduler = new SnapshotScheduler(
      cfg.durability.snapshot,
      { snapshot: store.base.version, last: store.version, tailBytes: store.tailStats.bytes },
      (version) =>
        new Promise<void>((resolve, reject) => {
          // a ready spare first (its save stalls no query), else a serving worker
          const x = spares().find((y) => y.ready) ?? serving()[0] ?? [...workers.values()].find((y) => y.live);
          if (!x) return reject(new Error('no live worker to write it'));
          snapshotWait = { worker: x.w.id, version, resolve, reject };
          x.w.send({ t: 'snapshot', version, dir: store.beginSnapshot(version) } satisfies ToWorker);
        }),
      (version) => store.snapshotDone(version),
      log,
    );
  }

  // ---- metrics: every serving worker's figures that arrive in time, plus the primary's own
  const primaryRegistry = new Registry();
  new Gauge({
    name: 'rag_cluster_workers',
    help: 'Worker processes by state',
    labelNames: ['state'],
    registers: [primaryRegistry],
    collect() {
      const all = [...workers.values()];
      this.set({ state: 'serving' }, all.filter((x) => x.serving).length);
      this.set({ state: 'spare' }, all.filter((x) => x.spare && x.ready).length);
      this.set({ state: 'starting' }, all.filter((x) => !x.ready).length);
    },
  });
  if (store) registerStoreMetrics(primaryRegistry, store);
  let nextMetricsId = 0;
  const metricsRequests = new Map<number, { waiting: Set<number>; got: WorkerMetrics[]; finish: () => void }>();
  const aggregateMetrics = (): Promise<string> =>
    new Promise((resolve) => {
      const id = ++nextMetricsId;
      const targets = serving();
      const req = {
        waiting: new Set(targets.map((x) => x.w.id)),
        got: [] as WorkerMetrics[],
        finish: () => {
          clearTimeout(timer);
          metricsRequests.delete(id);
          const own = primaryRegistry.metrics();
          const workersText = req.got.length > 0 ? AggregatorRegistry.aggregate(req.got).metrics() : Promise.resolve('');
          void Promise.all([workersText, own]).then(([a, b]) => resolve(`${a}\n${b}`));
        },
      };
      const timer = setTimeout(req.finish, METRICS_TIMEOUT_MS);
      metricsRequests.set(id, req);
      for (const x of targets) x.w.send({ t: 'metrics-req', id } satisfies ToWorker);
      if (req.waiting.size === 0) req.finish();
    });

  // ---- connections: accepted here, handed to the serving workers in turn
  let rr = 0;
  let nextConnId = 0;
  const pendingConns = new Set<Socket>();
  const handOff = (socket: Socket) => {
    const targets = serving();
    if (targets.length === 0) {
      if (shuttingDown || pendingConns.size >= PENDING_CONN_MAX) return socket.destroy();
      pendingConns.add(socket);
      const timer = setTimeout(() => {
        pendingConns.delete(socket);
        socket.destroy();
      }, PENDING_CONN_TIMEOUT_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        pendingConns.delete(socket);
      });
      return;
    }
    const x = targets[rr++ % targets.length];
    const id = ++nextConnId;
    x.transit.set(id, socket);
    x.w.send({ t: 'conn', id } satisfies ToWorker, socket, { keepOpen: true }, (err) => {
      if (err) {
        x.transit.delete(id);
        socket.destroy();
      }
    });
  };
  const flushPending = () => {
    for (const s of [...pendingConns]) {
      pendingConns.delete(s);
      s.removeAllListeners('close');
      if (!s.destroyed) handOff(s);
    }
  };
  const listener = createNetServer({ pauseOnConnect: true }, (socket) => {
    socket.on('error', () => {}); // a reset while it waits here is the client's business
    handOff(socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(cfg.port, cfg.host, () => resolve());
  });
  const addr = listener.address();
  const url = typeof addr === 'object' && addr ? `http://${cfg.host}:${addr.port}` : String(addr);

  // ---- workers
  const onMessage = (x: WorkerState, msg: unknown) => {
    if (!isMessage(msg)) return;
    const m = msg as ToPrimary;
    const w = x.w;
    switch (m.t) {
      case 'loaded':
        // the writes after the base it loaded, then every later one (same tick: nothing is missed)
        w.send({ t: 'replay', ops: oplog.ops(m.version), namespace } satisfies ToWorker);
        x.live = true;
        x.unpin();
        break;
      case 'listening':
        if (shuttingDown) break;
        x.ready = true;
        startFailures = 0;
        log.warn({ worker: w.id, pid: w.process.pid, role: x.spare ? 'spare' : 'serving', baseVersion: x.baseVersion, ms: Date.now() - x.forkedAt }, 'worker ready');
        if (x.spare) break;
        x.serving = true;
        flushPending();
        if (!announced && serving().length >= cfg.workers) {
          announced = true;
          log.warn({ url, workers: cfg.workers, index: cfg.indexDir, data: store?.dataDir, version: sequencer.version }, 'serving');
        }
        break;
      case 'fatal':
        x.fatal = m.message;
        break;
      case 'conn-ok': {
        // the worker holds its own descriptor now: close ours (the connection stays open in the worker)
        const s = x.transit.get(m.id);
        x.transit.delete(m.id);
        s?.destroy();
        break;
      }
      case 'write':
        sequencer.submit(m.op, m.seen).then(
          (ack) => w.isConnected() && w.send({ t: 'ack', id: m.id, ack } satisfies ToWorker),
          (err: Error & { statusCode?: number }) =>
            w.isConnected() && w.send({ t: 'ack', id: m.id, error: err.message, status: err.statusCode ?? 503 } satisfies ToWorker),
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
        aggregateMetrics().then(
          (text) => w.isConnected() && w.send({ t: 'metrics', id: m.id, text } satisfies ToWorker),
          (err) => w.isConnected() && w.send({ t: 'metrics', id: m.id, error: (err as Error).message } satisfies ToWorker),
        );
        break;
      case 'metrics-data': {
        const req = metricsRequests.get(m.id);
        if (!req || !req.waiting.delete(w.id)) break;
        if (m.data) req.got.push(m.data);
        if (req.waiting.size === 0) req.finish();
        break;
      }
      case 'snapshotted':
        if (snapshotWait && snapshotWait.worker === w.id && snapshotWait.version === m.version) {
          const s = snapshotWait;
          snapshotWait = undefined;
          if (m.error) s.reject(new Error(m.error));
          else s.resolve();
        }
        break;
      case 'drained':
        x.onDrained?.();
        break;
    }
  };

  const fork = (spare: boolean) => {
    if (shuttingDown) return;
    const base = oplog.base;
    const unpin = oplog.pin(base.version);
    const w = cluster.fork(workerEnv({ namespace, queueName, loadDir: base.dir, loadVersion: base.version }));
    const x: WorkerState = { w, live: false, serving: false, ready: false, spare, forkedAt: Date.now(), baseVersion: base.version, unpin, transit: new Map() };
    workers.set(w.id, x);
    w.on('message', (msg) => onMessage(x, msg));
    w.on('error', (err) => log.warn({ worker: w.id, err: err.message }, 'worker channel error'));
  };

  cluster.on('exit', (w, code, signal) => {
    const x = workers.get(w.id);
    if (!x) return;
    workers.delete(w.id);
    x.unpin();
    x.onDrained?.();
    // connections still on their way to it: close them, so their clients see a closed connection, not a hang
    for (const s of x.transit.values()) s.destroy();
    x.transit.clear();
    for (const entry of waiting.values()) {
      if (entry.pending.delete(w.id) && entry.pending.size === 0) entry.done();
    }
    for (const req of metricsRequests.values()) {
      if (req.waiting.delete(w.id) && req.waiting.size === 0) req.finish();
    }
    if (snapshotWait?.worker === w.id) {
      const s = snapshotWait;
      snapshotWait = undefined;
      s.reject(new Error(`worker ${w.id} died while writing it`));
    }
    if (shuttingDown) return;
    if (x.ready) {
      const spare = x.spare ? undefined : spares().find((y) => y.ready);
      if (spare) {
        // the spare is loaded and at the current version: it serves now; a new spare starts behind it
        spare.spare = false;
        spare.serving = true;
        flushPending();
        log.error({ worker: w.id, code, signal, replacement: spare.w.id, pid: spare.w.process.pid }, 'worker died; a spare took its place, starting a new spare');
        fork(true);
      } else {
        log.error({ worker: w.id, code, signal }, x.spare ? 'spare worker died; starting another' : 'worker died; starting a replacement');
        fork(x.spare);
      }
      return;
    }
    startFailures++;
    const reason = x.fatal ?? `exited with code ${code}${signal ? ` (signal ${signal})` : ''} before it served`;
    if (startFailures >= maxStartFailures) {
      log.fatal({ worker: w.id, failures: startFailures, reason }, 'workers keep failing to start: giving up');
      process.stderr.write(`error: a worker failed to start ${startFailures} times in a row; last reason: ${reason}\n`);
      void shutdown(1);
      return;
    }
    const delay = Math.min(START_BACKOFF_BASE_MS * 2 ** (startFailures - 1), START_BACKOFF_CAP_MS);
    log.error({ worker: w.id, reason, failures: startFailures, of: maxStartFailures, retryInMs: delay }, 'worker failed to start; retrying after a delay');
    setTimeout(() => fork(x.spare), delay);
  });

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.warn({ code }, 'shutting down: workers finish their in-flight requests');
    listener.close();
    for (const s of pendingConns) s.destroy();
    pendingConns.clear();
    const alive = [...workers.values()];
    for (const x of alive) x.serving = false;
    // 1. every worker stops accepting and finishes what it holds (writes still go through the primary meanwhile)
    await Promise.all(
      alive.map(
        (x) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, WORKER_SHUTDOWN_GRACE_MS);
            x.onDrained = () => {
              clearTimeout(timer);
              resolve();
            };
            if (x.w.isConnected()) x.w.send({ t: 'drain' } satisfies ToWorker);
            else x.onDrained();
          }),
      ),
    );
    await consumer?.close();
    // 2. a last snapshot (a live worker still holds the engine), so the next start replays nothing
    await scheduler?.stop(code === 0 && !walFailed);
    // 3. the workers exit
    await Promise.all(
      [...workers.values()].map(
        (x) =>
          new Promise<void>((resolve) => {
            if (x.w.isDead()) return resolve();
            const timer = setTimeout(() => {
              x.w.kill('SIGKILL');
              resolve();
            }, 5_000);
            x.w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (x.w.isConnected()) x.w.send({ t: 'exit' } satisfies ToWorker);
            else x.w.kill('SIGKILL');
          }),
      ),
    );
    await store?.close();
    process.exit(code);
  };
  const onSignal = () => {
    shutdown(0).catch((err) => {
      process.stderr.write(`error during shutdown: ${(err as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  for (let i = 0; i < cfg.workers; i++) fork(false);
  for (let i = 0; i < spareWorkers; i++) fork(true);
}
