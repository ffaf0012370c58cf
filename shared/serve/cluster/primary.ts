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
 * last snapshot, then exit 0. SIGHUP, or POST /v1/admin/reload on any worker: a hot update (reload.ts), run here.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { createServer as createNetServer, type Socket } from 'node:net';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { ServeConfig } from '../config.ts';
import { HttpError } from '../http-errors.ts';
import { Reloader, type StageReport } from '../reload.ts';
import { DocumentHistory } from '../store/history.ts';
import { registerStoreMetrics } from '../store/metrics.ts';
import { SnapshotScheduler } from '../store/snapshots.ts';
import { checkSavedIndex, DurableStore } from '../store/store.ts';
import { Sequencer, startQueueConsumer, type ApplyOutcome, type LogOp, type ReloadOp } from '../writes.ts';
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
/** Default scheduling priority (nice) of the workers a hot update starts, while they load (--reload-nice). */
export const DEFAULT_RELOAD_NICE = 10;

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
  /** How many reloads had been logged when it was forked: one forked before the latest loads a base that reload replaced. */
  epoch: number;
  /** Forked by a hot update to serve the new index: loads it and applies every write, gets connections after the swap. */
  successor?: boolean;
  /** Replaced by a hot update: sends whatever still reaches it to the new workers, then exits (not replaced). */
  retired?: boolean;
  /** Its private loopback URL (where a retired worker sends the requests that still reach it). */
  url?: string;
  /** Writes it replayed after loading its base. */
  replayed?: number;
  /** Connections sent to it, kept open here until it confirms it has them. */
  transit: Map<number, Socket>;
  /** Why it could not start, as it said. */
  fatal?: string;
  onDrained?: () => void;
}

/** Sets the nice value of every thread of process `pid` (Linux: per thread); the error message if it could not. */
function renice(pid: number | undefined, nice: number): string | undefined {
  if (!pid) return 'no pid';
  let tids: number[] = [pid];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    // not Linux, or gone: the process as a whole
  }
  try {
    for (const tid of tids) setPriority(tid, nice);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The savedAt of the saved index in `dir`, or undefined if it has none readable (the worker then says why). */
function savedAtOf(dir: string): string | undefined {
  try {
    return checkSavedIndex(dir);
  } catch {
    return undefined;
  }
}

/** The op log when there is no data directory: in memory, from version 0, never trimmed (writes are lost at exit). */
function memoryLog(indexDir: string) {
  const ops: Array<[number, LogOp]> = [];
  const log = {
    // no copy of its own: workers check the folder still holds this index (cluster/worker.ts)
    base: { dir: indexDir, version: 0, savedAt: savedAtOf(indexDir) } as { dir: string; version: number; savedAt?: string },
    version: 0,
    ops: (after: number) => ops.filter(([v]) => v > after),
    append(v: number, op: LogOp) {
      ops.push([v, op]);
      return Promise.resolve({ bytes: 0 });
    },
    pin: (_base: { dir: string; version: number }) => () => {},
    beginSnapshot: (_v: number): string => {
      throw new Error('no data directory');
    },
    /** A reload's folder becomes the base at the version it stands for. */
    commitReload(_v: number, op: ReloadOp) {
      log.base = { dir: op.dir, version: op.from, savedAt: op.savedAt };
    },
  };
  return log;
}

export async function runPrimary(cfg: ServeConfig): Promise<void> {
  const log = cfg.logger;
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const maxStartFailures = cfg.maxStartFailures ?? 5;
  // loading is background work: the serving workers keep most of the CPU while new ones boot (restored once they serve)
  const reloadNice = cfg.reloadNice ?? DEFAULT_RELOAD_NICE;
  const store = cfg.durability
    ? await DurableStore.open({ dataDir: cfg.durability.dataDir, indexDir: cfg.indexDir, fsync: cfg.durability.fsync, log })
    : undefined;
  const oplog = store ?? memoryLog(cfg.indexDir);
  if (store) {
    log.warn({ data: store.dataDir, base: store.base.dir, baseVersion: store.base.version, replay: store.version - store.base.version }, 'recovered: snapshot + write-ahead log');
  }
  // every document's versions (store/history.ts): written here, read by the workers from the file
  const history = store ? DocumentHistory.open(store.dataDir, log) : undefined;
  if (store && history) {
    // catch up with the log (a crash can leave the history a frame or a few behind). The primary holds no engine, so
    // these writes count as applied: one the engine refuses (the HTTP schemas let very few through) would be listed
    for (const [v, op] of store.ops(store.base.version)) if (v > history.last) history.record(v, op, { ok: true, result: {} });
    store.beforePrune = () => history.sync();
  }
  const recordHistory = (seq: number, op: LogOp, outcome: ApplyOutcome): void => {
    if (!history || history.failed) return;
    try {
      history.record(seq, op, outcome);
    } catch (err) {
      log.error({ err: (err as Error).message, version: seq }, 'document history: could not record a write; history answers 503 until a restart');
    }
  };

  // workers may collect garbage on purpose once loaded, before they serve (worker.ts warmUp)
  cluster.setupPrimary({ execArgv: [...process.execArgv, '--expose-gc'] });
  const workers = new Map<number, WorkerState>();
  /** Reloads logged so far (a worker forked before the latest one is replaced as soon as it has loaded). */
  let epoch = 0;
  /** The version of the last write sent to the workers ({apply}). */
  let lastSent = oplog.version;
  /** seq → workers that still have to apply it. */
  const waiting = new Map<number, { pending: Set<number>; outcome?: ApplyOutcome; done: () => void }>();
  /** A reload being swapped in: its version, the successors that have not applied it yet, the workers it retires. */
  let swapping: { seq: number; pending: Set<number>; olds: WorkerState[]; successors: WorkerState[] } | undefined;
  let shuttingDown = false;
  let announced = false;
  let startFailures = 0;
  let walFailed = false;
  const serving = () => [...workers.values()].filter((x) => x.serving);
  const spares = () => [...workers.values()].filter((x) => x.spare && !x.successor && !x.retired);
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
  const fanout = (seq: number, op: LogOp): Promise<ApplyOutcome> =>
    new Promise((resolve, reject) => {
      // appends resolve in version order, so the {apply} messages go out in version order
      oplog.append(seq, op).then(
        ({ bytes }) => {
          let swap: ReturnType<typeof beginSwap> | undefined;
          if (op.kind === 'reload') {
            // durable: the copy is the base from now on (replacements load it), and snapshots count from it
            oplog.commitReload(seq, op);
            // with no write since `from`, the copy is the engine at the reload's version: no snapshot needed for it
            scheduler?.rebase(op.from === seq - 1 ? seq : op.from, store?.tailStats.bytes ?? 0);
            epoch++;
            swap = beginSwap(seq);
          }
          lastSent = seq;
          const targets = [...workers.values()].filter((x) => x.live);
          const entry = {
            pending: new Set(targets.map((x) => x.w.id)),
            outcome: undefined as ApplyOutcome | undefined,
            done: () => {
              waiting.delete(seq);
              const outcome = entry.outcome ?? { ok: false as const, code: 'UNAVAILABLE', message: 'no worker applied the write; it is in the log and will be applied when one starts' };
              // applied by every live worker, not yet acknowledged: recorded in the history now
              recordHistory(seq, op, outcome);
              resolve(outcome);
            },
          };
          waiting.set(seq, entry);
          for (const x of targets) x.w.send({ t: 'apply', seq, op } satisfies ToWorker);
          // the old workers get nothing after the reload: they retire once they reach it
          if (swap) for (const x of swap.olds) x.live = false;
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
  // the documents the recovered writes left (a re-ingest of one of them exactly so does nothing)
  for (const [v, op] of oplog.ops(oplog.base.version)) sequencer.remember(v, op);
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

  // ---- hot update (reload.ts): new workers load the copy while the old ones serve; the reload record swaps them
  //
  // Successors are forked with the copy as their base at `from` and get every write after it (like a replacement);
  // they listen but get no connection. The reload record then goes to every live worker: a successor is at the
  // new index already (nothing to do); an old worker, once it reaches the record (after every earlier write),
  // retires: it sends every request that still reaches it (on a keep-alive connection, or handed to it before the
  // switch) to a successor, with `connection: close`, and exits when its connections are gone. Connections go to the
  // successors once all of them applied the record; the reload is acknowledged once every live worker did.
  let staging:
    | { dir: string; from: number; successors: WorkerState[]; resolve: (r: StageReport[]) => void; reject: (e: Error) => void }
    | undefined;
  const stagingSettled = () => {
    if (!staging) return;
    if (!staging.successors.every((x) => x.ready)) return;
    const s = staging;
    staging = undefined;
    // loaded and idle until the swap: back to normal priority now, so they apply the reload record and take the
    // requests the old workers pass on at full speed (measured: restored only after the swap, a niced new worker
    // on a busy machine made the swap window's p50 550 ms)
    for (const x of s.successors) {
      // raising a priority back needs CAP_SYS_NICE (or RLIMIT_NICE): without it the new workers keep --reload-nice
      const err = reloadNice === 0 ? undefined : renice(x.w.process.pid, getPriority());
      if (err) log.warn({ worker: x.w.id, err }, `reload: could not restore the priority of a new worker (it keeps nice ${reloadNice})`);
    }
    s.resolve(s.successors.map((x) => ({ replica: `worker ${x.w.id}`, ms: Date.now() - x.forkedAt, replayed: x.replayed ?? 0 })));
  };
  const abortStaging = (reason: string) => {
    if (!staging) return;
    const s = staging;
    staging = undefined;
    for (const x of s.successors) {
      workers.delete(x.w.id);
      x.unpin();
      if (!x.w.isDead()) x.w.kill('SIGKILL');
    }
    s.reject(new Error(reason));
  };
  const beginSwap = (seq: number) => {
    const all = [...workers.values()];
    const successors = all.filter((x) => x.successor && x.live);
    const olds = all.filter((x) => x.live && !x.successor);
    const urls = successors.filter((x) => !x.spare && x.url).map((x) => x.url!);
    for (const x of olds) {
      x.retired = true;
      x.w.send({ t: 'retire', seq, urls } satisfies ToWorker);
    }
    swapping = { seq, pending: new Set(successors.map((x) => x.w.id)), olds, successors };
    if (swapping.pending.size === 0) switchToSuccessors();
    return swapping;
  };
  /** Every successor is at the reload's version: connections go to them from now on. */
  const switchToSuccessors = () => {
    if (!swapping) return;
    const s = swapping;
    swapping = undefined;
    for (const x of s.olds) {
      x.serving = false;
      x.spare = false;
      if (x.w.isConnected()) x.w.send({ t: 'switched' } satisfies ToWorker);
    }
    for (const x of s.successors) {
      x.successor = false;
      x.serving = !x.spare;
    }
    log.warn({ version: s.seq, workers: s.successors.map((x) => x.w.id), retired: s.olds.map((x) => x.w.id) }, 'reload: connections go to the new workers; the old ones retire');
    flushPending();
  };
  const reloader = new Reloader({
    log,
    store,
    scheduler,
    lastSent: () => lastSent,
    pin: (dir, version) => oplog.pin({ dir, version }),
    stageAll: (dir, from) =>
      new Promise<StageReport[]>((resolve, reject) => {
        if (shuttingDown) return reject(new Error('the service is shutting down'));
        staging = { dir, from, successors: [], resolve, reject };
        const serve = cfg.workers;
        for (let i = 0; i < serve + spareWorkers; i++) {
          // without a data directory the successors load the folder itself: they check it is still this index
          const x = fork(i >= serve, { dir, version: from, savedAt: store ? undefined : savedAtOf(dir) });
          staging.successors.push(x);
          const err = reloadNice === 0 ? undefined : renice(x.w.process.pid, Math.max(getPriority(), reloadNice));
          if (err) log.warn({ worker: x.w.id, err }, 'reload: could not lower the priority of a loading worker');
        }
        log.warn({ dir, from, workers: serve, spares: spareWorkers }, 'reload: starting workers on the new index beside the serving ones');
      }),
    unstageAll: () => abortStaging('the reload was abandoned'),
    submit: (op) => sequencer.submit(op),
  });
  const reload = (index: string | undefined) => {
    if (shuttingDown) return Promise.reject(new HttpError(503, 'the service is shutting down', { 'retry-after': '1' }));
    return reloader.reload(index ?? cfg.indexDir);
  };

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
        if (x.epoch !== epoch) {
          // it loaded the base a reload has replaced since it was forked: a new one loads the current base
          workers.delete(w.id);
          x.unpin();
          w.kill('SIGKILL');
          // replaced only if the new workers are fewer than configured (it was itself replacing a worker that died
          // while the reload loaded: the reload's new workers took that place)
          const peers = [...workers.values()].filter((y) => !y.retired && y.spare === x.spare).length;
          const wanted = x.spare ? spareWorkers : cfg.workers;
          log.warn({ worker: w.id, replaced: peers < wanted }, 'reload: a worker forked before the reload loaded the old index; stopped');
          if (!shuttingDown && peers < wanted) fork(x.spare);
          break;
        }
        // the writes after the base it loaded, then every later one (same tick: nothing is missed)
        {
          const ops = oplog.ops(m.version);
          x.replayed = ops.length;
          w.send({ t: 'replay', ops, namespace } satisfies ToWorker);
        }
        x.live = true;
        x.unpin();
        break;
      case 'listening':
        if (shuttingDown) break;
        x.ready = true;
        x.url = m.url;
        startFailures = 0;
        log.warn(
          { worker: w.id, pid: w.process.pid, role: x.successor ? 'new index' : x.spare ? 'spare' : 'serving', baseVersion: x.baseVersion, ms: Date.now() - x.forkedAt },
          'worker ready',
        );
        if (x.successor) {
          stagingSettled();
          break;
        }
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
        if (!m.outcome.ok && m.outcome.code === 'RELOAD_FAILED') {
          // it cannot serve the reloaded index (it holds another one at a version past the reload): replaced from the new base
          log.error({ worker: w.id, version: m.seq, reason: m.outcome.message }, 'reload: a worker could not swap; replacing it');
          w.kill('SIGKILL');
        }
        if (swapping && swapping.seq === m.seq && swapping.pending.delete(w.id) && swapping.pending.size === 0) switchToSuccessors();
        const entry = waiting.get(m.seq);
        if (!entry) break;
        // a reload's outcome is a new worker's (the old ones retire)
        if (m.outcome.ok && !x.retired) entry.outcome ??= m.outcome;
        else if (!m.outcome.ok && m.outcome.code !== 'RELOAD_FAILED') entry.outcome ??= m.outcome;
        if (entry.pending.delete(w.id) && entry.pending.size === 0) entry.done();
        break;
      }
      case 'reload':
        reload(m.index).then(
          (result) => w.isConnected() && w.send({ t: 'reloaded', id: m.id, result } satisfies ToWorker),
          (err: Error & { statusCode?: number }) =>
            w.isConnected() && w.send({ t: 'reloaded', id: m.id, error: err.message, status: err.statusCode ?? 500 } satisfies ToWorker),
        );
        break;
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

  /** Forks a worker on the current base, or (a hot update's successor) on the copy being loaded. */
  const fork = (spare: boolean, successorBase?: { dir: string; version: number; savedAt?: string }): WorkerState => {
    const base: { dir: string; version: number; savedAt?: string } = successorBase ?? oplog.base;
    const unpin = oplog.pin(base);
    const w = cluster.fork(workerEnv({ namespace, queueName, loadDir: base.dir, loadVersion: base.version, loadSavedAt: base.savedAt }));
    const x: WorkerState = {
      w,
      live: false,
      serving: false,
      ready: false,
      spare,
      forkedAt: Date.now(),
      baseVersion: base.version,
      unpin,
      epoch,
      successor: successorBase !== undefined,
      transit: new Map(),
    };
    workers.set(w.id, x);
    w.on('message', (msg) => onMessage(x, msg));
    w.on('error', (err) => log.warn({ worker: w.id, err: err.message }, 'worker channel error'));
    return x;
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
    if (staging?.successors.includes(x)) {
      // a new worker that could not load the new index: the reload is abandoned (no re-fork, no start failure)
      abortStaging(x.fatal ?? `worker ${w.id} exited with code ${code}${signal ? ` (signal ${signal})` : ''} while loading it`);
      return;
    }
    if (swapping?.pending.delete(w.id) && swapping.pending.size === 0) switchToSuccessors();
    if (x.retired) {
      log.warn({ worker: w.id, code }, 'reload: an old worker has retired');
      return;
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
        if (!shuttingDown) fork(true);
      } else {
        log.error({ worker: w.id, code, signal }, x.spare ? 'spare worker died; starting another' : 'worker died; starting a replacement');
        if (!shuttingDown) fork(x.spare);
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
    setTimeout(() => void (shuttingDown || fork(x.spare)), delay);
  });

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.warn({ code }, 'shutting down: workers finish their in-flight requests');
    abortStaging('the service is shutting down');
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
    history?.close();
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
  // SIGHUP: hot update from the configured index directory (rebuilt in place, or replaced); the outcome is logged
  process.on('SIGHUP', () => {
    if (!announced) return void log.warn({}, 'SIGHUP before the service serves: ignored');
    reload(undefined).catch(() => {}); // the reloader logs the failure
  });

  for (let i = 0; i < cfg.workers; i++) fork(false);
  for (let i = 0; i < spareWorkers; i++) fork(true);
}
