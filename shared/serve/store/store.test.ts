import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReloadOp, WriteOp } from '../writes.ts';
import { SnapshotScheduler } from './snapshots.ts';
import { checkSavedIndex, DurableStore } from './store.ts';

let root: string;
let indexDir: string;
let dataDir: string;
const warnings: string[] = [];
const log = { warn: (_o: object, m: string) => void warnings.push(m), error: (_o: object, m: string) => void warnings.push(m) };

/** A stand-in for engine.save: a folder with a manifest naming its version and its (one) file. */
function fakeSnapshot(dir: string, version: number) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data.bin'), 'x'.repeat(version));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ meta: { version }, files: { 'data.bin': { bytes: version, crc32: 0 } } }));
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-store-'));
  indexDir = join(root, 'idx');
  dataDir = join(root, 'idx.data');
  mkdirSync(indexDir);
  writeFileSync(join(indexDir, 'manifest.json'), JSON.stringify({ savedAt: '2026-01-01T00:00:00.000Z' }));
  warnings.length = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Where the store keeps its copy of indexDir (saved at 2026-01-01T00:00:00.000Z) until the first snapshot. */
const baseCopy = () => join(dataDir, 'indexes', 'base-2026-01-01T00-00-00-000Z');

const del = (i: number): WriteOp => ({ kind: 'delete', ids: [`d${i}`] });

describe('durable store', () => {
  it('starts from the saved index at version 0, and a reopen replays every appended write', async () => {
    let store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: baseCopy(), version: 0 });
    await Promise.all([1, 2, 3].map((v) => store.append(v, del(v))));
    await store.close();
    store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.version).toBe(3);
    expect(store.ops(0)).toEqual([
      [1, del(1)],
      [2, del(2)],
      [3, del(3)],
    ]);
    await store.close();
  });

  it('after a snapshot: the base moves, older log records leave memory, old segments and snapshots are deleted', async () => {
    const store = await DurableStore.open({ dataDir, indexDir, log });
    for (let v = 1; v <= 4; v++) await store.append(v, del(v));
    fakeSnapshot(store.beginSnapshot(4), 4);
    await store.snapshotDone(4);
    for (let v = 5; v <= 6; v++) await store.append(v, del(v));
    expect(store.tailStats.records).toBe(2);
    expect(store.ops(4).map(([v]) => v)).toEqual([5, 6]);
    expect(() => store.ops(2)).toThrow(/already dropped/);
    fakeSnapshot(store.beginSnapshot(6), 6);
    await store.snapshotDone(6);
    await store.append(7, del(7));
    expect(readdirSync(join(dataDir, 'snapshots'))).toEqual(['00000000000000000006']);
    // the segment holding 1..4 and the one holding 5..6 are gone; 7 starts a new one
    expect(readdirSync(join(dataDir, 'wal'))).toEqual(['00000000000000000007.wal']);
    await store.close();
    const again = await DurableStore.open({ dataDir, indexDir, log });
    expect(again.base.version).toBe(6);
    expect(again.ops(6)).toEqual([[7, del(7)]]);
    await again.close();
  });

  it('a worker still loading an older base pins it and the log after it', async () => {
    const store = await DurableStore.open({ dataDir, indexDir, log });
    for (let v = 1; v <= 3; v++) await store.append(v, del(v));
    const unpin = store.pin(store.base);
    fakeSnapshot(store.beginSnapshot(3), 3);
    await store.snapshotDone(3);
    expect(store.ops(0).map(([v]) => v)).toEqual([1, 2, 3]);
    unpin();
    expect(() => store.ops(0)).toThrow(/already dropped/);
    await store.close();
  });

  it('ignores an unfinished snapshot folder and removes it', async () => {
    let store = await DurableStore.open({ dataDir, indexDir, log });
    for (let v = 1; v <= 2; v++) await store.append(v, del(v));
    await store.close();
    mkdirSync(join(dataDir, 'snapshots', '00000000000000000002.tmp-1-2'), { recursive: true });
    store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base.version).toBe(0);
    expect(store.ops(0)).toHaveLength(2);
    expect(existsSync(join(dataDir, 'snapshots', '00000000000000000002.tmp-1-2'))).toBe(false);
    await store.close();
  });

  it('refuses a second owner, and a data directory made for another (rebuilt) index', async () => {
    const store = await DurableStore.open({ dataDir, indexDir, log });
    writeFileSync(join(dataDir, 'LOCK'), String(process.ppid)); // a live process that is not us
    await expect(DurableStore.open({ dataDir, indexDir, log })).rejects.toThrow(/in use by process/);
    writeFileSync(join(dataDir, 'LOCK'), String(process.pid));
    await store.close();
    writeFileSync(join(indexDir, 'manifest.json'), JSON.stringify({ savedAt: '2026-02-02T00:00:00.000Z' }));
    await expect(DurableStore.open({ dataDir, indexDir, log })).rejects.toThrow(/was rebuilt/);
  });

  it('serves a copy of the --index folder until the first snapshot: rebuilding the folder changes nothing it loads', async () => {
    writeFileSync(join(indexDir, 'data.bin'), 'original');
    writeFileSync(join(indexDir, 'manifest.json'), JSON.stringify({ savedAt: '2026-01-01T00:00:00.000Z', files: { 'data.bin': { bytes: 8, crc32: 0 } } }));
    let store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: baseCopy(), version: 0 });
    await store.append(1, del(1));
    // rebuilt in place while the service runs (a new folder renamed over it, as engine.save does)
    await rm(indexDir, { recursive: true });
    mkdirSync(indexDir);
    writeFileSync(join(indexDir, 'data.bin'), 'rebuilt!!');
    writeFileSync(join(indexDir, 'manifest.json'), JSON.stringify({ savedAt: '2026-03-03T00:00:00.000Z', files: { 'data.bin': { bytes: 9, crc32: 0 } } }));
    // what a worker started now loads: the copy, as it was
    expect(readFileSync(join(store.base.dir, 'data.bin'), 'utf8')).toBe('original');
    await store.close();
    // a restart on the rebuilt folder is refused (its writes were made on the original), and the copy stays
    await expect(DurableStore.open({ dataDir, indexDir, log })).rejects.toThrow(/was rebuilt/);
    expect(existsSync(baseCopy())).toBe(true);
    // with the original back: the copy is reused (not copied again), and the first snapshot makes it go
    await rm(indexDir, { recursive: true });
    mkdirSync(indexDir);
    writeFileSync(join(indexDir, 'data.bin'), 'original');
    writeFileSync(join(indexDir, 'manifest.json'), JSON.stringify({ savedAt: '2026-01-01T00:00:00.000Z', files: { 'data.bin': { bytes: 8, crc32: 0 } } }));
    warnings.length = 0;
    store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: baseCopy(), version: 0 });
    expect(warnings.filter((w) => /copied the index/.test(w))).toEqual([]);
    fakeSnapshot(store.beginSnapshot(1), 1);
    await store.snapshotDone(1);
    expect(existsSync(baseCopy())).toBe(false);
    await store.close();
  });

  it('the scheduler snapshots after N writes, of the version handed over last, and once more at stop', async () => {
    const taken: number[] = [];
    const s = new SnapshotScheduler({ everyWrites: 3, everyBytes: 1e9, intervalMs: 0 }, { snapshot: 0, last: 0, tailBytes: 0 }, async (v) => void taken.push(v), async () => {}, log);
    for (let v = 1; v <= 3; v++) s.noteWrite(v, 10);
    await s.settled(); // the one the third write started
    for (let v = 4; v <= 7; v++) s.noteWrite(v, 10);
    await s.settled();
    expect(taken).toEqual([3, 6]);
    expect(s.pending.writes).toBe(1);
    await s.stop(true);
    expect(taken).toEqual([3, 6, 7]);
    expect(s.pending.writes).toBe(0);
  });
});

/** A stand-in for a saved index: a manifest with its savedAt and its (one) file. */
function fakeIndex(dir: string, savedAt: string, size = 5) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data.bin'), 'y'.repeat(size));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ savedAt, files: { 'data.bin': { bytes: size, crc32: 0 } } }));
}

describe('durable store: hot update (reload)', () => {
  const NEW = '2026-03-03T00:00:00.000Z';
  let newIndex: string;
  beforeEach(() => {
    newIndex = join(root, 'idx-new');
    fakeIndex(newIndex, NEW);
  });

  /** What the service does: copy, log the reload record, commit it. */
  async function reload(store: DurableStore, version: number, from: number): Promise<ReloadOp> {
    const { dir, savedAt } = await store.prepareReload(newIndex);
    const op: ReloadOp = { kind: 'reload', dir, from, source: newIndex, savedAt };
    await store.append(version, op);
    store.commitReload(version, op);
    return op;
  }

  it('copies the index in; once logged, the copy is the base at `from` and a restart replays the log after it', async () => {
    let store = await DurableStore.open({ dataDir, indexDir, log });
    for (let v = 1; v <= 3; v++) await store.append(v, del(v));
    // staging began after write 2; write 3 was numbered while the new index loaded
    const op = await reload(store, 4, 2);
    expect(op.dir.startsWith(join(dataDir, 'indexes'))).toBe(true);
    expect(readFileSync(join(op.dir, 'data.bin'), 'utf8')).toBe('yyyyy');
    expect(store.base).toEqual({ dir: op.dir, version: 2 });
    await store.append(5, del(5));
    expect(store.ops(2).map(([v]) => v)).toEqual([3, 4, 5]);
    await store.close();
    // a restart (kill -9 or not) with the original --index: the copy, then writes 3, the reload record, 5
    store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: op.dir, version: 2 });
    expect(store.version).toBe(5);
    expect(store.ops(2)).toEqual([
      [3, del(3)],
      [4, op],
      [5, del(5)],
    ]);
    await store.close();
    // … and with --index on the new folder: its savedAt is in the lineage now
    store = await DurableStore.open({ dataDir, indexDir: newIndex, log });
    expect(store.base.dir).toBe(op.dir);
    await store.close();
  });

  it('a snapshot after the reload replaces the copy; one of the replaced index (older than the reload) is never a base', async () => {
    const store = await DurableStore.open({ dataDir, indexDir, log });
    for (let v = 1; v <= 2; v++) await store.append(v, del(v));
    fakeSnapshot(store.beginSnapshot(2), 2);
    await store.snapshotDone(2);
    const op = await reload(store, 3, 2);
    // the old snapshot held the index the reload replaced
    expect(readdirSync(join(dataDir, 'snapshots'))).toEqual([]);
    // a snapshot of the old index finishing late: deleted
    fakeSnapshot(join(dataDir, 'snapshots', '00000000000000000002'), 2);
    await store.snapshotDone(2);
    expect(store.base.dir).toBe(op.dir);
    expect(readdirSync(join(dataDir, 'snapshots'))).toEqual([]);
    await store.append(4, del(4));
    fakeSnapshot(store.beginSnapshot(4), 4);
    await store.snapshotDone(4);
    expect(store.base.version).toBe(4);
    expect(existsSync(op.dir)).toBe(false);
    await store.close();
    const again = await DurableStore.open({ dataDir, indexDir, log });
    expect(again.base.version).toBe(4);
    await again.close();
  });

  it('a crash before the reload record is on disk: the reload did not happen, and its copy is removed', async () => {
    let store = await DurableStore.open({ dataDir, indexDir, log });
    await store.append(1, del(1));
    const { dir } = await store.prepareReload(newIndex);
    expect(existsSync(dir)).toBe(true);
    await store.close();
    store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: baseCopy(), version: 0 });
    expect(existsSync(dir)).toBe(false);
    await store.close();
  });

  it('a failed reload leaves nothing; a folder that is not a saved index is refused before anything is copied', async () => {
    const store = await DurableStore.open({ dataDir, indexDir, log });
    const { dir } = await store.prepareReload(newIndex);
    await store.discardReload(dir);
    expect(readdirSync(join(dataDir, 'indexes'))).toEqual(['base-2026-01-01T00-00-00-000Z']);
    await expect(store.prepareReload(join(root, 'nope'))).rejects.toThrow(/does not exist/);
    mkdirSync(join(root, 'empty'));
    expect(() => checkSavedIndex(join(root, 'empty'))).toThrow(/manifest\.json missing/);
    writeFileSync(join(newIndex, 'data.bin'), 'short');
    writeFileSync(join(newIndex, 'data.bin'), 'sh');
    expect(() => checkSavedIndex(newIndex)).toThrow(/data\.bin is 2 bytes; .* says 5/);
    expect(readdirSync(join(dataDir, 'indexes'))).toEqual(['base-2026-01-01T00-00-00-000Z']);
    await store.close();
  });

  it('the scheduler holds snapshots back while paused, then counts from the reload', async () => {
    const taken: number[] = [];
    const s = new SnapshotScheduler({ everyWrites: 2, everyBytes: 1e9, intervalMs: 0 }, { snapshot: 0, last: 0, tailBytes: 0 }, async (v) => void taken.push(v), async () => {}, log);
    const resume = await s.pause();
    for (let v = 1; v <= 3; v++) s.noteWrite(v, 10);
    await s.snapshot('by hand');
    expect(taken).toEqual([]);
    s.rebase(3, 0);
    resume();
    await s.settled();
    expect(taken).toEqual([]);
    s.noteWrite(4, 10);
    s.noteWrite(5, 10);
    await s.settled();
    expect(taken).toEqual([5]);
    await s.stop(false);
  });
});
