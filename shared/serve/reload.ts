/**
 * Hot update: the service changes the index it serves while it serves, with no failed request and no lost write.
 *
 *     POST /v1/admin/reload {index?: "<dir>"}     (admin key; without `index`: the configured --index again)
 *     kill -HUP <pid of npm run serve>            (the configured --index; the outcome is in the log)
 *
 * The steps (`Reloader.reload`), each logged:
 *
 *  1. check   the folder holds a saved index (manifest.json, every file it lists at its size): else 400, nothing
 *             changes. One reload at a time (409 while one runs).
 *  2. copy    into the data directory (`<data>/indexes/reload-…`, fsync'd, renamed into place), so the service owns
 *             its base: rebuilding the folder later cannot change what a restart loads. Snapshots are held back
 *             from here to the end (one in progress finishes first): a snapshot now would hold the old index.
 *  3. stage   the new index is loaded beside the serving one, and `from` = the last write handed to the replicas
 *             then: every write numbered after it is applied to the new index as well as the old one, so a write
 *             acknowledged during the load is in both. In a cluster (cluster/primary.ts) new worker processes start
 *             with the copy as their base (at `--reload-nice`, so the serving workers keep the CPU), replay the
 *             writes after `from` and receive every later one, and listen without connections: the serving workers'
 *             event loops are untouched. With --workers 1 the process loads it itself (Replica.stage), on its event
 *             loop. One that cannot load it says why: everything staged is dropped, the copy deleted, 422 with the
 *             reason, and nothing has changed.
 *  4. swap    the reload is numbered like a write (version r), logged in the write-ahead log (fsync) and sent
 *             to every replica in version order. In a cluster the new workers have nothing to do and the old ones
 *             retire when they reach r: whatever still reaches them is passed on to a new worker (`connection:
 *             close`), and connections go to the new workers once they are at r; in one process the engine
 *             reference is swapped between write r − 1 and r + 1. Queries that started before finish on the old
 *             engine; the results cache moves to r. The 200 answers once every replica is at r: from then on every
 *             answer comes from the new index.
 *
 * What a reload means for writes: the new index replaces the documents as they were at `from` (the moment staging
 * began); every write numbered after `from` is applied on top of it. So no write acknowledged during the reload is
 * lost, and a write acknowledged before it is replaced by the new index, exactly as if the index had been rebuilt
 * then (include it in the rebuilt index if it should stay). Writes are never refused or delayed by a reload.
 *
 * Durability: once the reload record is on disk, the copy is the base at version `from` and the log after `from` is
 * kept until a snapshot at or after r exists; a start after a crash loads the copy and replays the log after `from`
 * (store/store.ts). Before the record is on disk, the reload did not happen.
 *
 * Cost: two copies of the index in memory while the new one loads (old and new workers, or two engines in one
 * process), the CPU of loading it, and one copy on disk until the next snapshot. README.md "Hot update" has figures.
 */
import { resolve } from 'node:path';
import { isRagError } from '../errors.ts';
import { HttpError } from './http-errors.ts';
import type { SnapshotScheduler } from './store/snapshots.ts';
import { checkSavedIndex, type DurableStore } from './store/store.ts';
import type { ReloadOp, WriteAck } from './writes.ts';

/** What one replica reports once it has loaded the staged index and caught up. */
export interface StageReport {
  /** Which replica (worker id, or "self"). */
  replica: string;
  ms: number;
  /** Writes numbered after `from` applied to the staged engine by then. */
  replayed: number;
  /** Worst event-loop delay on that replica while it loaded (ms). */
  maxDelayMs?: number;
}

export interface ReloadResult {
  /** The version of the reload record: answers at this version or later come from the new index. */
  version: number;
  /** The folder asked for, and the copy the service loads (the same folder when there is no data directory). */
  index: string;
  dir: string;
  /** The version the new index's contents stand for (writes after it were applied on top). */
  from: number;
  documents: number;
  chunks: number;
  replicas: StageReport[];
  /** Wall time of each step and in all (ms). */
  ms: { copy: number; stage: number; swap: number; total: number };
}

export interface ReloadDeps {
  log: { warn: (o: object, m: string) => void; error: (o: object, m: string) => void };
  store?: DurableStore;
  scheduler?: SnapshotScheduler;
  /** The version of the last write handed to the replicas. */
  lastSent(): number;
  /** Keeps the log after `version` available (replicas that join while staging replay it) until released. */
  pin(dir: string, version: number): () => void;
  /** Has every replica load `dir` and apply the writes after `from`; rejects with the reason one could not. */
  stageAll(dir: string, from: number): Promise<StageReport[]>;
  /** Drops the staged index everywhere (the reload was abandoned). */
  unstageAll(dir: string): void;
  /** Numbers, logs and applies the reload record everywhere. */
  submit(op: ReloadOp): Promise<WriteAck>;
}

/** Runs hot updates one at a time. */
export class Reloader {
  private current: { index: string; since: number } | undefined;

  constructor(private readonly deps: ReloadDeps) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  async reload(index: string): Promise<ReloadResult> {
    if (this.current) {
      throw new HttpError(409, `a reload is in progress (${this.current.index}, for ${Date.now() - this.current.since} ms); try again when it is done`, { 'retry-after': '5' });
    }
    const src = resolve(index);
    this.current = { index: src, since: Date.now() };
    try {
      return await this.run(src);
    } finally {
      this.current = undefined;
    }
  }

  private async run(src: string): Promise<ReloadResult> {
    const { log, store, scheduler } = this.deps;
    const t0 = Date.now();
    let savedAt: string;
    try {
      savedAt = checkSavedIndex(src);
    } catch (err) {
      throw badIndex(err);
    }
    log.warn({ index: src, savedAt }, 'reload: started');
    const resume = scheduler ? await scheduler.pause() : () => {};
    let dir = src;
    let unpin = () => {};
    let staged = false;
    try {
      if (store) {
        try {
          ({ dir, savedAt } = await store.prepareReload(src));
        } catch (err) {
          throw badIndex(err);
        }
      }
      const tCopy = Date.now();
      if (store) log.warn({ index: src, copy: dir, ms: tCopy - t0 }, 'reload: copied into the data directory');
      const from = this.deps.lastSent();
      unpin = this.deps.pin(dir, from);
      staged = true;
      let replicas: StageReport[];
      try {
        replicas = await this.deps.stageAll(dir, from);
      } catch (err) {
        throw new HttpError(422, `cannot load ${src}: ${(err as Error).message} (nothing changed: the service still serves the index it had)`);
      }
      const tStage = Date.now();
      log.warn({ index: src, from, replicas, ms: tStage - tCopy }, 'reload: every replica has loaded it and caught up; swapping');
      staged = false;
      const ack = await this.deps.submit({ kind: 'reload', dir, from, source: src, savedAt });
      if (!ack.outcome.ok) {
        // logged, so it happened: the replicas that failed are replaced from the new base (cluster), or the process restarts
        throw new HttpError(500, `the reload was logged at version ${ack.version} but a replica failed to swap: ${ack.outcome.message}`);
      }
      const result = ack.outcome.result as { documents?: number; chunks?: number };
      const tSwap = Date.now();
      const out: ReloadResult = {
        version: ack.version,
        index: src,
        dir,
        from,
        documents: result.documents ?? 0,
        chunks: result.chunks ?? 0,
        replicas,
        ms: { copy: tCopy - t0, stage: tStage - tCopy, swap: tSwap - tStage, total: tSwap - t0 },
      };
      log.warn({ version: out.version, index: src, from, documents: out.documents, chunks: out.chunks, ms: out.ms }, 'reload: done; every replica serves the new index');
      return out;
    } catch (err) {
      if (staged) {
        this.deps.unstageAll(dir);
        if (store) await store.discardReload(dir);
      }
      log.error({ index: src, err: (err as Error).message }, 'reload failed');
      throw err;
    } finally {
      unpin();
      resume();
    }
  }
}

/** A folder that is not a usable saved index: 400 with what is wrong (nothing changed). */
function badIndex(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const message = (err as Error).message;
  const bad = isRagError(err, 'INVALID_INPUT') || isRagError(err, 'NOT_FOUND');
  return new HttpError(bad ? 400 : 500, `${bad ? '' : 'could not copy the index: '}${message} (nothing changed)`);
}
