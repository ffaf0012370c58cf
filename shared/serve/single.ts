/**
 * `npm run serve -- --workers 1`: the server in this process. Writes go through a Sequencer here or, with REDIS_URL,
 * through a BullMQ queue consumed in this same process (writes.ts).
 *
 * Durable (the default, `--data-dir`): this process owns the data directory (store/store.ts). At start it loads the
 * newest snapshot (or the saved index) and replays the write-ahead log after it; each write is appended to the log
 * and fsync'd (group commit) before it is applied and acknowledged; snapshots are taken by the scheduler
 * (store/snapshots.ts) between two writes, and one more on graceful shutdown.
 *
 * Hot update (reload.ts): POST /v1/admin/reload or SIGHUP loads the new index in this process beside the current
 * one and swaps at the reload's version.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createServer, type RagServer } from './app.ts';
import { loadServingEngine, redisCache, type ServeConfig } from './config.ts';
import { isRagError } from '../errors.ts';
import { servedModelOf } from '../model/serving.ts';
import { HttpError } from './http-errors.ts';
import type { ModelSwapResult } from './routes/context.ts';
import { Reloader } from './reload.ts';
import { onceSignal } from './shutdown.ts';
import { registerStoreMetrics } from './store/metrics.ts';
import { DocumentHistory } from './store/history.ts';
import { SnapshotScheduler } from './store/snapshots.ts';
import { DurableStore } from './store/store.ts';
import {
  applyWrite,
  OrderedApplier,
  presenceAware,
  QueueWritePath,
  Sequencer,
  startQueueConsumer,
  type ApplyOutcome,
  type LogOp,
} from './writes.ts';

export async function serveSingle(cfg: ServeConfig): Promise<RagServer> {
  const log = cfg.logger;
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const store = cfg.durability
    ? await DurableStore.open({ dataDir: cfg.durability.dataDir, indexDir: cfg.indexDir, fsync: cfg.durability.fsync, log })
    : undefined;
  const base = store?.base ?? { dir: cfg.indexDir, version: 0 };
  const engine = await loadServingEngine(base.dir, cfg.engine);
  // every document's versions (store/history.ts): derived from the log, recorded once a write is applied
  const history = store ? DocumentHistory.open(store.dataDir, log) : undefined;
  if (store && history) {
    const ops = store.ops(base.version);
    const t0 = Date.now();
    if (history.last < base.version) {
      log.warn(
        { history: history.last, base: base.version },
        'document history: its newest write is older than the snapshot; writes between them, if any, are not in it (made before the history existed, or its file was removed)',
      );
    }
    const caughtUp = history.last;
    // a reload record after the base names the folder the base was loaded from: nothing to apply
    for (const [v, op] of ops) {
      const outcome: ApplyOutcome = op.kind === 'reload' ? { ok: true, result: {} } : await applyWrite(engine, op);
      // the history catches up with the log (a crash can leave it a frame or a few behind)
      if (v > caughtUp) history.record(v, op, outcome);
    }
    store.beforePrune = () => history.sync();
    log.warn(
      { data: store.dataDir, base: base.dir, baseVersion: base.version, replay: ops.length, ms: Date.now() - t0, version: store.version },
      'recovered: snapshot + write-ahead log',
    );
  }

  let server: RagServer | undefined;
  const applier = new OrderedApplier(async (v, op) => {
    const outcome = await server!.applySequenced(v, op);
    // applied everywhere, not yet acknowledged: the history records it now (a failure here is logged; the write stands)
    if (history && !history.failed) {
      try {
        history.record(v, op, outcome);
      } catch (err) {
        log.error({ err: (err as Error).message, version: v }, 'document history: could not record a write; history answers 503 until a restart');
      }
    }
    return outcome;
  });
  let scheduler: SnapshotScheduler | undefined;
  let walFailed = false;
  /** The version of the last write handed to the engine. */
  let lastSent = store?.version ?? 0;
  const fanout = async (v: number, op: LogOp): Promise<ApplyOutcome> => {
    if (!store) {
      lastSent = v;
      return applier.apply(v, op);
    }
    let bytes: number;
    try {
      ({ bytes } = await store.append(v, op));
    } catch (err) {
      if (!walFailed) {
        walFailed = true;
        log.fatal({ err: (err as Error).message, version: v }, 'the write-ahead log failed: exiting (a restart recovers every acknowledged write from the log)');
        setTimeout(() => process.exit(1), 200).unref();
      }
      throw new HttpError(503, 'the write could not be made durable (write-ahead log failed); it was not applied; retry it once the service is back');
    }
    if (op.kind === 'reload') {
      // durable: the copy is the base from now on, and snapshots count from it
      store.commitReload(v, op);
      // with no write since `from`, the copy is the engine at the reload's version: no snapshot needed for it
      scheduler?.rebase(op.from === v - 1 ? v : op.from, store.tailStats.bytes);
    }
    // durable: apply in version order (appends resolve in order), then let the scheduler count it
    lastSent = v;
    const applied = applier.apply(v, op);
    scheduler?.noteWrite(v, bytes);
    return applied;
  };
  const sequencer = new Sequencer(fanout, store?.version ?? 0);
  // the documents the recovered writes left (a re-ingest of one of them exactly so does nothing)
  if (store) for (const [v, op] of store.ops(base.version)) sequencer.remember(v, op);
  const queue = cfg.redisUrl ? await QueueWritePath.open({ redisUrl: cfg.redisUrl, name: queueName }) : undefined;
  const rc = redisCache(cfg.redisUrl, namespace, cfg.logger);
  let reloader: Reloader | undefined;
  const created = await createServer({
    ...cfg.server,
    logger: cfg.logger,
    writes: presenceAware(queue ?? sequencer, () => ({ version: created.version, engine: created.engine })),
    cache: cfg.server.cache === false ? false : { ...cfg.server.cache, ...rc },
    reload: (index) => reloader!.reload(index ?? cfg.indexDir),
    swapModel: cfg.engine?.embedder?.kind === 'onnx' ? (model) => swapModel(model) : undefined,
    history,
  });
  server = created;
  server.setEngine(engine, store?.version ?? 0, base.dir);
  if (store) {
    registerStoreMetrics(created.metrics.registry, store);
    scheduler = new SnapshotScheduler(
      cfg.durability!.snapshot,
      { snapshot: store.base.version, last: store.version, tailBytes: store.tailStats.bytes },
      (v) => applier.barrier(() => engine.save(store.beginSnapshot(v), { meta: { version: v } })),
      (v) => store.snapshotDone(v),
      log,
    );
  }
  reloader = new Reloader({
    log,
    store,
    scheduler,
    lastSent: () => lastSent,
    pin: (dir, version) => store?.pin({ dir, version }) ?? (() => {}),
    stageAll: async (dir, from) => {
      const t0 = Date.now();
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      try {
        const r = await created.stage(dir, from, (d) => loadServingEngine(d, cfg.engine), store?.ops(from) ?? []);
        return [{ replica: 'self', ms: Date.now() - t0, replayed: r.replayed, maxDelayMs: Math.round(delay.max / 1e5) / 10 }];
      } finally {
        delay.disable();
      }
    },
    unstageAll: (dir) => created.unstage(dir),
    submit: async (op) => {
      const ack = await sequencer.submit(op);
      if (!ack.outcome.ok) {
        // logged but not swapped (cannot happen with a staged engine): a restart serves what the log says
        log.fatal({ version: ack.version, reason: ack.outcome.message }, 'reload: logged but the swap failed; exiting (a restart loads the new index)');
        setTimeout(() => process.exit(1), 200).unref();
      }
      return ack;
    },
  });
  const consumer = queue ? await startQueueConsumer({ redisUrl: cfg.redisUrl!, name: queueName }, sequencer) : undefined;
  await queue?.ready();
  const url = await server.listen(cfg.port, cfg.host);
  log.warn({ url, index: cfg.indexDir, data: store?.dataDir, version: server.version, writes: queue ? 'bullmq' : 'in-process' }, 'serving');
  const shutdown = onceSignal(async () => {
    log.warn('shutting down: finishing in-flight requests');
    await created.close();
    await consumer?.close();
    // a last snapshot, so the next start replays nothing; the log already holds every acknowledged write
    await scheduler?.stop(!walFailed);
    await store?.close();
    history?.close();
    rc?.redis.disconnect();
  });
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // SIGHUP: hot update from the configured index directory; the outcome is logged
  process.on('SIGHUP', () => void reloader!.reload(cfg.indexDir).catch(() => {}));
  // SIGUSR2: model hot-swap from the configured --model folder (served-model.ts); the outcome is logged
  if (cfg.engine?.embedder?.kind === 'onnx') process.on('SIGUSR2', () => void swapModel(undefined).catch(() => {}));
  return server;

  /** Swaps the ONNX model of the engine serving now; logs the outcome. */
  async function swapModel(model: string | undefined): Promise<ModelSwapResult> {
    const served = servedModelOf(created.engine?.embedder);
    if (!served) throw new HttpError(501, 'this server serves no ONNX model');
    const dir = model ?? served.dir;
    try {
      const r = await served.swap(dir);
      log.warn({ model: dir, from: r.from, to: r.to, loadMs: Math.round(r.loadMs), warmMs: Math.round(r.warmMs) }, 'model swapped');
      return { model: dir, from: r.from, to: r.to, loadMs: r.loadMs, warmMs: r.warmMs };
    } catch (err) {
      log.error({ model: dir, err: (err as Error).message }, 'model swap failed; the old model keeps serving');
      throw isRagError(err) && (err.code === 'NOT_FOUND' || err.code === 'CORRUPT') ? new HttpError(400, (err as Error).message) : err;
    }
  }
}
