/**
 * The durable side of the write path: one data directory owned by one process (the single server, or the cluster
 * primary), holding the write-ahead log and the snapshots.
 *
 *     <data>/LOCK                  pid of the owner; a second server on the same directory refuses to start
 *     <data>/lineage.json          which saved index this directory continues (a rebuilt index does not mix with it)
 *     <data>/wal/*.wal             the log (wal.ts)
 *     <data>/snapshots/<version>/  the engine at a version (snapshots.ts)
 *
 *     const store = await DurableStore.open({ dataDir, indexDir, log });
 *     store.base            // where to start: { dir: newest snapshot or the saved index, version }
 *     store.ops(v)          // the writes after version v, in order: replayed on top of the base
 *     await store.append(v, op)      // durable (fdatasync'd, group commit) when it resolves
 *     store.beginSnapshot(v) // where the snapshot of version v goes; once written: store.snapshotDone(v)
 *
 * Start = newest complete snapshot (or the saved index at version 0) + every log record after its version. The log
 * records after the base are also kept in memory (`ops`), for replacement workers; `snapshotDone(v)` drops those up
 * to v, deletes log segments and snapshots older than v, so memory and disk stay bounded by the snapshot policy.
 * A worker that is still loading an older base pins it (`pin`): its snapshot and the records after it stay.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RagError } from '../../errors.ts';
import type { WriteOp } from '../writes.ts';
import { listSnapshots, removeLeftovers, snapshotName, type SnapshotInfo } from './snapshots.ts';
import { listSegments, readSegments, WalWriter, type FsyncMode } from './wal.ts';

export interface StoreLog {
  warn: (obj: object, msg: string) => void;
  error: (obj: object, msg: string) => void;
}

export interface StoreOptions {
  dataDir: string;
  /** The saved index this data directory continues (the base when there is no snapshot yet). */
  indexDir: string;
  fsync?: FsyncMode;
  log: StoreLog;
}

interface Lineage {
  index: string;
  indexSavedAt: string;
  createdAt: string;
}

export class DurableStore {
  readonly dataDir: string;
  readonly walDir: string;
  readonly snapshotsDir: string;
  private readonly wal: WalWriter;
  private baseInfo: SnapshotInfo;
  /** Log records after the newest snapshot (or pinned base), in version order. */
  private tail: Array<{ version: number; op: WriteOp; bytes: number }> = [];
  private last: number;
  private readonly pins = new Map<number, number>();
  private closed = false;

  private constructor(opts: StoreOptions, base: SnapshotInfo, tail: DurableStore['tail'], last: number) {
    this.dataDir = resolve(opts.dataDir);
    this.walDir = join(this.dataDir, 'wal');
    this.snapshotsDir = join(this.dataDir, 'snapshots');
    this.wal = new WalWriter(this.walDir, opts.fsync ?? 'group', () => this.prune());
    this.baseInfo = base;
    this.tail = tail;
    this.last = last;
  }

  /** Takes the directory's lock, checks its lineage, cleans crash leftovers and reads the log after the newest snapshot. */
  static async open(opts: StoreOptions): Promise<DurableStore> {
    const dataDir = resolve(opts.dataDir);
    mkdirSync(join(dataDir, 'wal'), { recursive: true });
    mkdirSync(join(dataDir, 'snapshots'), { recursive: true });
    takeLock(dataDir);
    try {
      checkLineage(dataDir, resolve(opts.indexDir));
      const snapshotsDir = join(dataDir, 'snapshots');
      removeLeftovers(snapshotsDir, (m) => opts.log.warn({}, m));
      const snapshots = listSnapshots(snapshotsDir, (m) => opts.log.warn({}, m));
      const base: SnapshotInfo = snapshots[0] ?? { dir: resolve(opts.indexDir), version: 0 };
      const { records, dropped } = readSegments(join(dataDir, 'wal'));
      for (const d of dropped) {
        opts.log.warn(d, `dropped a torn record at the end of the write-ahead log (${d.file} offset ${d.offset}, ${d.bytes} bytes): a write cut short by a crash, never acknowledged`);
      }
      const tail: DurableStore['tail'] = [];
      let prev: number | undefined;
      for (const r of records) {
        if (prev !== undefined && r.version !== prev + 1) {
          throw new RagError('CORRUPT', `write-ahead log in ${join(dataDir, 'wal')} jumps from version ${prev} to ${r.version}`);
        }
        prev = r.version;
        if (r.version <= base.version) continue;
        if (tail.length === 0 && r.version !== base.version + 1) {
          throw new RagError(
            'CORRUPT',
            `the newest snapshot is at version ${base.version} but the write-ahead log continues at version ${r.version}: writes ${base.version + 1}..${r.version - 1} are missing`,
          );
        }
        let op: WriteOp;
        try {
          op = JSON.parse(r.payload.toString('utf8')) as WriteOp;
        } catch {
          throw new RagError('CORRUPT', `write-ahead log record of version ${r.version} is not JSON`);
        }
        if (!op || (op.kind !== 'ingest' && op.kind !== 'delete')) {
          throw new RagError('CORRUPT', `write-ahead log record of version ${r.version} is not a write`);
        }
        tail.push({ version: r.version, op, bytes: r.bytes });
      }
      const last = Math.max(base.version, prev ?? 0);
      return new DurableStore(opts, base, tail, last);
    } catch (err) {
      releaseLock(dataDir);
      throw err;
    }
  }

  /** Where a start loads from: the newest complete snapshot, or the saved index at version 0. */
  get base(): SnapshotInfo {
    return this.baseInfo;
  }

  /** The last version in the log (or of the base): the next write gets version + 1. */
  get version(): number {
    return this.last;
  }

  /** Log records with version > `after`, in order. `after` must be ≥ the base version or a pinned one. */
  ops(after: number): Array<[number, WriteOp]> {
    const first = this.tail.length > 0 ? this.tail[0].version : this.last + 1;
    if (after + 1 < first) throw new Error(`ops after ${after} were already dropped (the log in memory starts at ${first})`);
    return this.tail.filter((e) => e.version > after).map((e) => [e.version, e.op]);
  }

  /** Records and bytes held in memory (the log after the newest snapshot). */
  get tailStats(): { records: number; bytes: number } {
    return { records: this.tail.length, bytes: this.tail.reduce((s, e) => s + e.bytes, 0) };
  }

  get walStats() {
    return this.wal.stats;
  }

  /**
   * Appends write `version` to the log; resolves once it is on disk. Versions must come in order, one after another.
   * Rejects if the disk write or fsync failed: the caller must then stop accepting writes (see WalWriter.append).
   */
  append(version: number, op: WriteOp): Promise<{ bytes: number }> {
    if (version !== this.last + 1) return Promise.reject(new Error(`write-ahead log: version ${version} after ${this.last}`));
    this.last = version;
    const payload = Buffer.from(JSON.stringify(op), 'utf8');
    const bytes = payload.length + 20;
    return this.wal.append(version, payload).then(() => {
      this.tail.push({ version, op, bytes });
      return { bytes };
    });
  }

  /** Where the snapshot of `version` is written (engine.save makes it atomically). Records after it start a new log segment. */
  beginSnapshot(version: number): string {
    this.wal.rollAfterVersion(version);
    return join(this.snapshotsDir, snapshotName(version));
  }

  /**
   * A snapshot of `version` is complete on disk: it becomes the base; log records up to it leave memory; older
   * snapshots and log segments holding only records up to it are deleted (unless a loading worker pinned them).
   */
  async snapshotDone(version: number): Promise<void> {
    if (version <= this.baseInfo.version) return;
    this.baseInfo = { dir: join(this.snapshotsDir, snapshotName(version)), version };
    this.prune();
  }

  /** Keeps the base at `version` (and the log after it) until the returned function is called. */
  pin(version: number): () => void {
    this.pins.set(version, (this.pins.get(version) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(version) ?? 1) - 1;
      if (n <= 0) this.pins.delete(version);
      else this.pins.set(version, n);
      this.prune();
    };
  }

  private prune(): void {
    if (this.closed) return;
    const keepFrom = Math.min(this.baseInfo.version, ...this.pins.keys());
    let drop = 0;
    while (drop < this.tail.length && this.tail[drop].version <= keepFrom) drop++;
    if (drop > 0) this.tail = this.tail.slice(drop);
    const keepSnapshots = new Set([this.baseInfo.version, ...this.pins.keys()]);
    for (const s of listSnapshots(this.snapshotsDir)) {
      if (!keepSnapshots.has(s.version) && s.version < this.baseInfo.version) rmSync(s.dir, { recursive: true, force: true });
    }
    // a segment can go once the next one starts at or before keepFrom + 1 (all its records are ≤ keepFrom)
    const segments = listSegments(this.walDir);
    for (let i = 0; i + 1 < segments.length; i++) {
      if (segments[i + 1].first <= keepFrom + 1) rmSync(segments[i].file, { force: true });
    }
  }

  /** Waits for every append, closes the log and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.wal.close();
    this.closed = true;
    releaseLock(this.dataDir);
  }
}

/** One owner per data directory: LOCK holds its pid; a lock whose process is gone (kill -9) is taken over. */
function takeLock(dataDir: string): void {
  const file = join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      fsyncSync(fd);
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new RagError('INVALID_INPUT', `data directory ${dataDir} is in use by process ${pid} (${file}); one server per data directory`);
    }
    unlinkSync(file);
  }
  throw new RagError('INVALID_INPUT', `could not lock data directory ${dataDir}`);
}

function releaseLock(dataDir: string): void {
  const file = join(dataDir, 'LOCK');
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The data directory continues one saved index: refuse to replay its writes on top of a different (rebuilt) one. */
function checkLineage(dataDir: string, indexDir: string): void {
  const file = join(dataDir, 'lineage.json');
  const savedAt = indexSavedAt(indexDir);
  if (!existsSync(file)) {
    const lineage: Lineage = { index: indexDir, indexSavedAt: savedAt, createdAt: new Date().toISOString() };
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(lineage, null, 1));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
    return;
  }
  let lineage: Lineage;
  try {
    lineage = JSON.parse(readFileSync(file, 'utf8')) as Lineage;
  } catch (err) {
    throw new RagError('CORRUPT', `${file} is not readable JSON (${(err as Error).message})`);
  }
  if (lineage.indexSavedAt !== savedAt) {
    throw new RagError(
      'INVALID_INPUT',
      `data directory ${dataDir} holds writes made on top of the index saved at ${lineage.indexSavedAt} (${lineage.index}), ` +
        `but ${indexDir} was saved at ${savedAt}: it was rebuilt. Move ${dataDir} away (its writes are not in the new index) ` +
        'or pass --data-dir <another directory>',
    );
  }
}

function indexSavedAt(indexDir: string): string {
  try {
    return String((JSON.parse(readFileSync(join(indexDir, 'manifest.json'), 'utf8')) as { savedAt?: string }).savedAt);
  } catch (err) {
    throw new RagError('NOT_FOUND', `cannot read ${join(indexDir, 'manifest.json')}: ${(err as Error).message}`);
  }
}
