import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOp } from '../writes.ts';
import { SnapshotScheduler } from './snapshots.ts';
import { DurableStore } from './store.ts';

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

const del = (i: number): WriteOp => ({ kind: 'delete', ids: [`d${i}`] });

describe('durable store', () => {
  it('starts from the saved index at version 0, and a reopen replays every appended write', async () => {
    let store = await DurableStore.open({ dataDir, indexDir, log });
    expect(store.base).toEqual({ dir: indexDir, version: 0 });
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
    const unpin = store.pin(0);
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
