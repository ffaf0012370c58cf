/**
 * The durable side of the write path: one data directory owned by one process (the single server, or the cluster
 * primary), holding the write-ahead log and the snapshots.
 *
 *     <data>/LOCK                  pid of the owner; a second server on the same directory refuses to start
 *     <data>/lineage.json          which saved index this directory continues (a rebuilt index does not mix with it)
 *     <data>/wal/*.wal             the log (wal.ts)
 *     <data>/snapshots/<version>/  the engine at a version (snapshots.ts)
 *     <data>/indexes/base-<savedAt>/  the --index folder, copied at the first start: the base until the first snapshot
 *     <data>/indexes/reload-<time>/   a saved index copied in by a hot update (reload.ts), the base until a snapshot
 *     <data>/history/history.log   every document's versions, derived from the log (history.ts); fsync'd before
 *                                  log records are dropped (`beforePrune`)
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
 *
 * The service never loads the --index folder itself: before the first snapshot the base is a copy of it in
 * `indexes/` (made at the first start, reused by later ones), so rebuilding that folder while the service runs
 * cannot change what a new worker or a restart loads (rebuilt, it is served only through a hot update).
 *
 * Hot update (reload.ts): `prepareReload(src)` copies a saved index into `indexes/` (fsync'd, renamed into place);
 * the reload is then numbered and logged like a write (`{kind: 'reload', dir, from}` at version r), and once that
 * record is durable, `commitReload` makes the copy the base at version `from`: a start loads the copy and replays the
 * records after `from` (the writes numbered while the new index was loading, then the reload record, which changes
 * nothing on an engine loaded from its dir, then everything after). Snapshots older than r hold the index the reload
 * replaced and are deleted; the first snapshot at or after r makes the copy obsolete. At start the newest reload
 * record after the newest snapshot names the base, so a crash anywhere in between recovers exactly what was
 * acknowledged: before the record is durable the reload did not happen (the copy is removed as a leftover), after it
 * the copy and the records after `from` are kept until a snapshot covers them.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RagError } from '../../errors.ts';
import { fsyncDir, fsyncFile } from '../../util/durable-fs.ts';
import type { LogOp, ReloadOp } from '../writes.ts';
import { invalidSnapshot, listSnapshots, removeLeftovers, snapshotName, type SnapshotInfo } from './snapshots.ts';
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
  /** Indexes hot-updated into this directory since (reload.ts): a restart with --index on one of them is accepted. */
  reloads?: Array<{ index: string; savedAt: string; version: number; at: string }>;
}

export class DurableStore {
  readonly dataDir: string;
  readonly walDir: string;
  readonly snapshotsDir: string;
  /** Saved indexes copied in by hot updates. */
  readonly indexesDir: string;
  private readonly wal: WalWriter;
  private baseInfo: SnapshotInfo;
  /** Log records after the newest snapshot (or pinned base), in version order. */
  private tail: Array<{ version: number; op: LogOp; bytes: number }> = [];
  private last: number;
  /** Bases still being loaded somewhere (by folder): kept, with the log after them. */
  private readonly pins = new Map<string, { version: number; count: number }>();
  /** The latest reload's version: a snapshot older than it holds the replaced index and is never a base again. */
  private floor: number;
  /** A copy made by prepareReload that is not committed yet (kept by prune). */
  private preparing = new Set<string>();
  private closed = false;
  /**
   * Runs before log records are dropped: what is derived from the log (the document history, history.ts) makes
   * itself durable first, so no trimmed record is needed again.
   */
  beforePrune: (() => void) | undefined;

  private constructor(opts: StoreOptions, base: SnapshotInfo, tail: DurableStore['tail'], last: number, floor: number) {
    this.dataDir = resolve(opts.dataDir);
    this.walDir = join(this.dataDir, 'wal');
    this.snapshotsDir = join(this.dataDir, 'snapshots');
    this.indexesDir = join(this.dataDir, 'indexes');
    this.wal = new WalWriter(this.walDir, opts.fsync ?? 'group', () => this.prune());
    this.baseInfo = base;
    this.tail = tail;
    this.last = last;
    this.floor = floor;
  }

  /** Takes the directory's lock, checks its lineage, cleans crash leftovers and reads the log after the newest snapshot. */
  static async open(opts: StoreOptions): Promise<DurableStore> {
    const dataDir = resolve(opts.dataDir);
    mkdirSync(join(dataDir, 'wal'), { recursive: true });
    mkdirSync(join(dataDir, 'snapshots'), { recursive: true });
    takeLock(dataDir);
    try {
      const snapshotsDir = join(dataDir, 'snapshots');
      const indexesDir = join(dataDir, 'indexes');
      const { records, dropped } = readSegments(join(dataDir, 'wal'));
      for (const d of dropped) {
        opts.log.warn(d, `dropped a torn record at the end of the write-ahead log (${d.file} offset ${d.offset}, ${d.bytes} bytes): a write cut short by a crash, never acknowledged`);
      }
      let prev: number | undefined;
      const ops: Array<{ version: number; op: LogOp; bytes: number }> = [];
      for (const r of records) {
        if (prev !== undefined && r.version !== prev + 1) {
          throw new RagError('CORRUPT', `write-ahead log in ${join(dataDir, 'wal')} jumps from version ${prev} to ${r.version}`);
        }
        prev = r.version;
        let op: LogOp;
        try {
          op = JSON.parse(r.payload.toString('utf8')) as LogOp;
        } catch {
          throw new RagError('CORRUPT', `write-ahead log record of version ${r.version} is not JSON`);
        }
        if (!op || (op.kind !== 'ingest' && op.kind !== 'delete' && op.kind !== 'reload')) {
          throw new RagError('CORRUPT', `write-ahead log record of version ${r.version} is not a write`);
        }
        ops.push({ version: r.version, op, bytes: r.bytes });
      }
      const reloads = ops.filter((e): e is { version: number; op: ReloadOp; bytes: number } => e.op.kind === 'reload');
      const indexSaved = checkLineage(dataDir, resolve(opts.indexDir), reloads.map((e) => e.op.savedAt));
      removeLeftovers(snapshotsDir, (m) => opts.log.warn({}, m));
      // complete copies only: a `.tmp` folder is a copy a crash cut short
      removeLeftovers(indexesDir, (m) => opts.log.warn({}, m), /^(reload|base)-[\w-]+$/);
      const snapshots = listSnapshots(snapshotsDir, (m) => opts.log.warn({}, m));
      let base: SnapshotInfo = snapshots[0] ?? { dir: resolve(opts.indexDir), version: 0 };
      // a reload logged after the newest snapshot: its copy, at the version its contents stand for, is the base
      const reload = reloads.at(-1);
      let floor = 0;
      if (reload) floor = reload.version;
      if (reload && reload.version > base.version) {
        const why = invalidSnapshot(reload.op.dir);
        if (why) {
          throw new RagError('CORRUPT', `the write-ahead log says version ${reload.version} is the index ${reload.op.dir} (a hot update), but ${why}`);
        }
        base = { dir: reload.op.dir, version: reload.op.from };
      }
      if (base.dir === resolve(opts.indexDir)) {
        // no snapshot yet: serve a copy the data directory owns, never the --index folder itself, which can be
        // rebuilt (npm run index -- --out <it>) while the service runs; a worker started later, or a restart, loads
        // the copy, so the writes in the log are never replayed on top of another index
        base = { dir: await ownBase(indexesDir, base.dir, indexSaved, opts.log), version: 0 };
      }
      const tail: DurableStore['tail'] = [];
      for (const e of ops) {
        if (e.version <= base.version) continue;
        if (tail.length === 0 && e.version !== base.version + 1) {
          throw new RagError(
            'CORRUPT',
            `the newest snapshot is at version ${base.version} but the write-ahead log continues at version ${e.version}: writes ${base.version + 1}..${e.version - 1} are missing`,
          );
        }
        tail.push(e);
      }
      const last = Math.max(base.version, prev ?? 0);
      const store = new DurableStore(opts, base, tail, last, floor);
      store.prune();
      return store;
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
  ops(after: number): Array<[number, LogOp]> {
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
  append(version: number, op: LogOp): Promise<{ bytes: number }> {
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
   * A snapshot older than the latest reload holds the index that reload replaced: it is deleted, never a base.
   */
  async snapshotDone(version: number): Promise<void> {
    if (version < this.floor) {
      rmSync(join(this.snapshotsDir, snapshotName(version)), { recursive: true, force: true });
      return;
    }
    if (version <= this.baseInfo.version) return;
    this.baseInfo = { dir: join(this.snapshotsDir, snapshotName(version)), version };
    this.prune();
  }

  /** Keeps `base` (its folder, and the log after its version) until the returned function is called. */
  pin(base: SnapshotInfo): () => void {
    const p = this.pins.get(base.dir);
    if (p) p.count++;
    else this.pins.set(base.dir, { version: base.version, count: 1 });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const q = this.pins.get(base.dir);
      if (q && --q.count <= 0) this.pins.delete(base.dir);
      this.prune();
    };
  }

  /**
   * Copies the saved index in `src` into `indexes/` for a hot update: every file, fsync'd, in a temporary folder
   * renamed into place, so the data directory owns its base (a later rebuild of `src` cannot change it). Refuses a
   * folder without a manifest, or whose files do not have the sizes the manifest lists. The checksums are checked
   * when the copy is loaded (loadEngine). Returns the copy and the index's savedAt.
   */
  async prepareReload(src: string): Promise<{ dir: string; savedAt: string }> {
    const savedAt = checkSavedIndex(src);
    const name = `reload-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
    const dir = join(this.indexesDir, name);
    const tmp = `${dir}.tmp`;
    await mkdir(this.indexesDir, { recursive: true });
    this.preparing.add(dir);
    try {
      await copyTree(src, tmp);
      await fsyncDir(tmp);
      await rename(tmp, dir);
      await fsyncDir(this.indexesDir);
    } catch (err) {
      this.preparing.delete(dir);
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return { dir, savedAt };
  }

  /** A prepared copy that will not be used (the reload failed before it was logged): removed. */
  async discardReload(dir: string): Promise<void> {
    this.preparing.delete(dir);
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * The reload record `op` is durable at `version`: its copy becomes the base at `op.from` (the log after it is
   * kept), the lineage lists the index (a restart with --index on it is accepted), and snapshots older than
   * `version` go.
   */
  commitReload(version: number, op: ReloadOp): void {
    this.preparing.delete(op.dir);
    this.floor = version;
    this.baseInfo = { dir: op.dir, version: op.from };
    addReloadToLineage(this.dataDir, { index: op.source, savedAt: op.savedAt, version, at: new Date().toISOString() });
    this.prune();
  }

  private prune(): void {
    if (this.closed) return;
    const pinned = [...this.pins.values()].map((p) => p.version);
    const keepFrom = Math.min(this.baseInfo.version, ...pinned);
    let drop = 0;
    while (drop < this.tail.length && this.tail[drop].version <= keepFrom) drop++;
    this.beforePrune?.();
    if (drop > 0) this.tail = this.tail.slice(drop);
    const keep = (dir: string) => dir === this.baseInfo.dir || this.pins.has(dir) || this.preparing.has(dir);
    // older than the base, or holding the index a reload replaced
    for (const s of listSnapshots(this.snapshotsDir)) {
      if (!keep(s.dir) && (s.version < this.baseInfo.version || s.version < this.floor)) rmSync(s.dir, { recursive: true, force: true });
    }
    for (const name of existsSync(this.indexesDir) ? readdirSync(this.indexesDir) : []) {
      const dir = join(this.indexesDir, name);
      if (!keep(dir) && !name.endsWith('.tmp')) rmSync(dir, { recursive: true, force: true });
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
function checkLineage(dataDir: string, indexDir: string, reloadedSavedAt: string[] = []): string {
  const file = join(dataDir, 'lineage.json');
  const savedAt = indexSavedAt(indexDir);
  if (!existsSync(file)) {
    const lineage: Lineage = { index: indexDir, indexSavedAt: savedAt, createdAt: new Date().toISOString() };
    writeJsonDurably(file, lineage);
    return savedAt;
  }
  const lineage = readLineage(file);
  // an index hot-updated into this directory is accepted too (the log or the lineage names it)
  const accepted = new Set([lineage.indexSavedAt, ...(lineage.reloads ?? []).map((r) => r.savedAt), ...reloadedSavedAt]);
  if (!accepted.has(savedAt)) {
    throw new RagError(
      'INVALID_INPUT',
      `data directory ${dataDir} holds writes made on top of the index saved at ${lineage.indexSavedAt} (${lineage.index}), ` +
        `but ${indexDir} was saved at ${savedAt}: it was rebuilt. Move ${dataDir} away (its writes are not in the new index) ` +
        'or pass --data-dir <another directory> (to change the index of a running service without losing its writes, ' +
        'hot-update it: POST /v1/admin/reload or SIGHUP, see README)',
    );
  }
  return savedAt;
}

/**
 * The copy of the saved index `src` (saved at `savedAt`) that the data directory serves until its first snapshot:
 * `indexes/base-<savedAt>/`, reused when it is there (a restart before any snapshot), else copied (every file
 * fsync'd, a temporary folder renamed into place; copy-on-write clones where the filesystem can). If `src` is
 * replaced while it is copied (rebuilt at that moment: its manifest says another savedAt before, after or in the
 * copy), the start is refused. The files' sizes and checksums are checked where the copy is loaded (loadEngine).
 */
async function ownBase(indexesDir: string, src: string, savedAt: string, log: StoreLog): Promise<string> {
  const dir = join(indexesDir, `base-${savedAt.replace(/[^\w-]/g, '-')}`);
  if (existsSync(dir)) {
    let copied: string | undefined;
    try {
      copied = indexSavedAt(dir);
    } catch {
      // no readable manifest: copied again below
    }
    if (copied === savedAt) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  const t0 = Date.now();
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(indexesDir, { recursive: true });
  try {
    await copyTree(src, tmp);
    const seen = [savedAtOrWhy(tmp), savedAtOrWhy(src)];
    if (seen.some((s) => s !== savedAt)) {
      throw new RagError(
        'INVALID_INPUT',
        `${src} changed while the service copied it into ${indexesDir} (saved at ${savedAt}; the copy: ${seen[0]}; the folder now: ${seen[1]}): ` +
          'it was being rebuilt; start the service again once the rebuild is done',
      );
    }
    await fsyncDir(tmp);
    await rename(tmp, dir);
    await fsyncDir(indexesDir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  log.warn({ index: src, copy: dir, ms: Date.now() - t0 }, 'copied the index into the data directory (served from there until the first snapshot: rebuilding the --index folder cannot change it)');
  return dir;
}

function savedAtOrWhy(dir: string): string {
  try {
    return indexSavedAt(dir);
  } catch (err) {
    return (err as Error).message;
  }
}

function readLineage(file: string): Lineage {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Lineage;
  } catch (err) {
    throw new RagError('CORRUPT', `${file} is not readable JSON (${(err as Error).message})`);
  }
}

function addReloadToLineage(dataDir: string, entry: NonNullable<Lineage['reloads']>[number]): void {
  const file = join(dataDir, 'lineage.json');
  const lineage = readLineage(file);
  lineage.reloads = [...(lineage.reloads ?? []), entry].slice(-100);
  writeJsonDurably(file, lineage);
}

/** Writes JSON to a temporary file, fsyncs it, renames it into place and fsyncs the folder. */
function writeJsonDurably(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 1));
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
  const dfd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function indexSavedAt(indexDir: string): string {
  try {
    return String((JSON.parse(readFileSync(join(indexDir, 'manifest.json'), 'utf8')) as { savedAt?: string }).savedAt);
  } catch (err) {
    throw new RagError('NOT_FOUND', `cannot read ${join(indexDir, 'manifest.json')}: ${(err as Error).message}`);
  }
}

/**
 * What a hot update checks before copying anything: `src` is a folder holding a saved index (manifest.json that
 * parses and has a savedAt; every file it lists is there with its size). Returns the savedAt. The errors say what is
 * wrong with the folder (answered 400).
 */
export function checkSavedIndex(src: string): string {
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new RagError('INVALID_INPUT', `index directory ${src} does not exist`);
  }
  if (!st.isDirectory()) throw new RagError('INVALID_INPUT', `${src} is not a directory`);
  const manifestFile = join(src, 'manifest.json');
  if (!existsSync(manifestFile)) throw new RagError('INVALID_INPUT', `no saved index in ${src} (manifest.json missing); build one with npm run index -- --out ${src}`);
  let manifest: { savedAt?: unknown; files?: Record<string, { bytes?: number }> };
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch (err) {
    throw new RagError('INVALID_INPUT', `${manifestFile} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof manifest?.savedAt !== 'string') throw new RagError('INVALID_INPUT', `${manifestFile} is not the manifest of a saved index (no savedAt)`);
  for (const [name, f] of Object.entries(manifest.files ?? {})) {
    let size: number;
    try {
      size = statSync(join(src, name)).size;
    } catch {
      throw new RagError('INVALID_INPUT', `${join(src, name)} is missing (listed in ${manifestFile})`);
    }
    if (size !== f.bytes) throw new RagError('INVALID_INPUT', `${join(src, name)} is ${size} bytes; ${manifestFile} says ${String(f.bytes)}`);
  }
  return manifest.savedAt;
}

/** Copies a folder (files and sub-folders), fsyncing every file (copy-on-write clones where the filesystem can). */
async function copyTree(src: string, dst: string): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dst, entry.name);
    if (entry.isDirectory()) {
      await copyTree(from, to);
      await fsyncDir(to);
    } else if (entry.isFile()) {
      await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
      await fsyncFile(to);
    } else if ((await stat(from)).isFile()) {
      await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
      await fsyncFile(to);
    }
  }
}
