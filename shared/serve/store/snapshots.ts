/**
 * Snapshots: the whole engine saved at one index version, so a start loads it and replays only the log after it.
 *
 *     <data>/snapshots/<version, 20 digits>/    engine.save(): manifest.json (meta.version, every file's CRC-32) + files
 *
 * `engine.save` writes into `<name>.tmp-…`, fsyncs every file, renames the folder into place and fsyncs the parent,
 * so a folder with a 20-digit name is complete; anything else in snapshots/ is the leftover of a crash and is removed
 * at start. A snapshot is only deleted once a newer one is complete (and no worker is still loading it).
 *
 * `SnapshotScheduler` decides when: after `everyWrites` writes or `everyBytes` of log since the last one, every
 * `intervalMs` if anything was written, and on graceful shutdown. One snapshot at a time; a failed one is logged and
 * the next trigger tries again (the log still holds every write, so nothing is lost meanwhile, only start-up time).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const snapshotName = (version: number) => String(version).padStart(20, '0');

export interface SnapshotInfo {
  dir: string;
  version: number;
}

/** Complete snapshots (20-digit folders whose manifest names the same version and lists its files), newest first. */
export function listSnapshots(root: string, warn: (msg: string) => void = () => {}): SnapshotInfo[] {
  if (!existsSync(root)) return [];
  const out: SnapshotInfo[] = [];
  for (const name of readdirSync(root)) {
    if (!/^\d{20}$/.test(name)) continue;
    const dir = join(root, name);
    const why = invalidSnapshot(dir, Number(name));
    if (why) warn(`ignoring snapshot ${dir}: ${why}`);
    else out.push({ dir, version: Number(name) });
  }
  return out.sort((a, b) => b.version - a.version);
}

/**
 * Why a snapshot folder cannot be used (cheap checks: manifest, version, file sizes), or undefined if it looks whole.
 * Without `version`, any saved index with a manifest that lists its files (a copy made by a hot update).
 */
export function invalidSnapshot(dir: string, version?: number): string | undefined {
  let manifest: { meta?: { version?: number }; files?: Record<string, { bytes: number }> };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    return `manifest.json unreadable (${(err as Error).message})`;
  }
  if (version !== undefined && manifest.meta?.version !== version) return `manifest.json says version ${String(manifest.meta?.version)}, folder says ${version}`;
  if (!manifest.files) return 'manifest.json lists no checksums';
  for (const [name, f] of Object.entries(manifest.files)) {
    let size: number;
    try {
      size = statSync(join(dir, name)).size;
    } catch {
      return `${name} is missing`;
    }
    if (size !== f.bytes) return `${name} is ${size} bytes, manifest says ${f.bytes}`;
  }
  return undefined;
}

/**
 * Removes everything in snapshots/ that is not a complete snapshot folder (temporary folders left by a crash), or
 * in another folder everything whose name does not match `complete`.
 */
export function removeLeftovers(root: string, log: (msg: string) => void, complete: RegExp = /^\d{20}$/): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (complete.test(name)) continue;
    log(`removing ${join(root, name)} (an unfinished snapshot from an earlier run)`);
    rmSync(join(root, name), { recursive: true, force: true });
  }
}

export interface SnapshotPolicy {
  /** Snapshot after this many writes since the last one. */
  everyWrites: number;
  /** … or this many bytes of log since the last one. */
  everyBytes: number;
  /** … or this often (ms) if anything was written; 0 = never by time. */
  intervalMs: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { everyWrites: 10_000, everyBytes: 64 << 20, intervalMs: 300_000 };

/**
 * Triggers snapshots. The owner calls `noteWrite(version, bytes)` right after handing write `version` to the replica
 * that will take the snapshot, so a snapshot started from there is ordered after that write and before the next one.
 * `take(version)` produces the snapshot (resolves once it is complete on disk); `done(version)` lets the store
 * truncate the log and delete older snapshots.
 */
export class SnapshotScheduler {
  private writes = 0;
  private bytes = 0;
  private last = 0;
  private snapshotAt: number;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** While > 0 no snapshot starts (a hot update is loading: a snapshot now would hold the index it replaces). */
  private paused = 0;

  constructor(
    private readonly policy: SnapshotPolicy,
    /** The newest snapshot's version, and the last write's with the log records after the snapshot (a start's tail). */
    start: { snapshot: number; last: number; tailBytes: number },
    private readonly take: (version: number) => Promise<void>,
    private readonly done: (version: number) => Promise<void>,
    private readonly log: { warn: (o: object, m: string) => void; error: (o: object, m: string) => void },
  ) {
    this.last = start.last;
    this.snapshotAt = start.snapshot;
    this.writes = start.last - start.snapshot;
    this.bytes = start.tailBytes;
    if (policy.intervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.last > this.snapshotAt) void this.snapshot('interval');
      }, policy.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes since the last snapshot (the log tail a restart replays). */
  get pending(): { writes: number; bytes: number } {
    return { writes: this.writes, bytes: this.bytes };
  }

  noteWrite(version: number, bytes: number): void {
    this.last = version;
    this.writes++;
    this.bytes += bytes;
    if (!this.running && !this.paused && (this.writes >= this.policy.everyWrites || this.bytes >= this.policy.everyBytes)) {
      void this.snapshot(this.writes >= this.policy.everyWrites ? 'writes' : 'bytes');
    }
  }

  /** Takes a snapshot of the latest write handed over (after one in progress finishes); resolves when it is on disk. */
  async snapshot(reason: string): Promise<void> {
    while (this.running) await this.running;
    if (this.stopped || this.paused || this.last <= this.snapshotAt) return;
    const version = this.last;
    const writes = this.writes;
    const bytes = this.bytes;
    const t0 = Date.now();
    this.running = (async () => {
      try {
        await this.take(version);
        this.snapshotAt = version;
        this.writes -= writes;
        this.bytes -= bytes;
        await this.done(version);
        this.log.warn({ version, reason, writes, logBytes: bytes, ms: Date.now() - t0 }, 'snapshot written');
      } catch (err) {
        this.log.error({ version, reason, err: (err as Error).message }, 'snapshot failed; the log still holds every write, trying again at the next trigger');
      }
    })().finally(() => (this.running = undefined));
    await this.running;
  }

  /**
   * No snapshot starts until the returned function is called; resolves once one in progress is done. A hot update
   * holds it while the new index loads. Resuming looks at the triggers again.
   */
  async pause(): Promise<() => void> {
    this.paused++;
    while (this.running) await this.running;
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      this.paused--;
      if (!this.paused && !this.running && (this.writes >= this.policy.everyWrites || this.bytes >= this.policy.everyBytes)) {
        void this.snapshot(this.writes >= this.policy.everyWrites ? 'writes' : 'bytes');
      }
    };
  }

  /**
   * A hot update made the index at `from` the base (the writes after it are the log a start replays): the counts
   * start again from there.
   */
  rebase(from: number, tailBytes: number): void {
    this.snapshotAt = from;
    this.last = Math.max(this.last, from);
    this.writes = this.last - from;
    this.bytes = tailBytes;
  }

  /** Resolves once no snapshot is in progress. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Final snapshot (if anything was written since the last one), then no more. */
  async stop(finalSnapshot: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (finalSnapshot) await this.snapshot('shutdown');
    else while (this.running) await this.running;
    this.stopped = true;
  }
}
