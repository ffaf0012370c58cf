import { appendFileSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEADER_BYTES, listSegments, readSegments, SEGMENT_MAGIC, WalWriter } from './wal.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rag-wal-'));
  mkdirSync(dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const payload = (i: number) => Buffer.from(JSON.stringify({ kind: 'delete', ids: [`doc-${i}`] }));

async function writeRecords(n: number, fsync: 'group' | 'every' | 'off' = 'group', from = 1): Promise<WalWriter> {
  const wal = new WalWriter(dir, fsync);
  await Promise.all(Array.from({ length: n }, (_, i) => wal.append(from + i, payload(from + i))));
  await wal.close();
  return wal;
}

describe('write-ahead log', () => {
  it('reads back every record in order, and concurrent appends share fsyncs (group commit)', async () => {
    const wal = await writeRecords(200);
    const { records, dropped } = readSegments(dir);
    expect(dropped).toEqual([]);
    expect(records.map((r) => r.version)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(JSON.parse(records[41].payload.toString())).toEqual({ kind: 'delete', ids: ['doc-42'] });
    expect(wal.stats.records).toBe(200);
    // 200 appends issued at once: the first flush takes one, the rest wait and share the next fsync
    expect(wal.stats.fsyncs).toBeLessThanOrEqual(3);
  });

  it("'every' fsyncs once per record; 'off' never", async () => {
    expect((await writeRecords(20, 'every')).stats.fsyncs).toBe(20);
    await rm(dir, { recursive: true });
    mkdirSync(dir);
    expect((await writeRecords(20, 'off')).stats.fsyncs).toBe(0);
  });

  it('drops a torn last record (file cut a few bytes short) and truncates the file to the last whole record', async () => {
    await writeRecords(10);
    const [seg] = listSegments(dir);
    const size = statSync(seg.file).size;
    truncateSync(seg.file, size - 3);
    const { records, dropped } = readSegments(dir);
    expect(records.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(dropped).toHaveLength(1);
    expect(dropped[0].file).toBe(seg.file);
    const recordBytes = HEADER_BYTES + payload(10).length;
    expect(dropped[0].offset).toBe(size - recordBytes);
    expect(statSync(seg.file).size).toBe(size - recordBytes);
    // reading again finds a clean log
    expect(readSegments(dir).dropped).toEqual([]);
  });

  it('drops a torn header and zeros at the end (a crash after the file grew)', async () => {
    await writeRecords(5);
    const [seg] = listSegments(dir);
    const size = statSync(seg.file).size;
    appendFileSync(seg.file, Buffer.alloc(7));
    let r = readSegments(dir);
    expect(r.records).toHaveLength(5);
    expect(r.dropped[0]).toMatchObject({ offset: size, bytes: 7 });
    appendFileSync(seg.file, Buffer.alloc(4096));
    r = readSegments(dir);
    expect(r.records).toHaveLength(5);
    expect(r.dropped[0]).toMatchObject({ offset: size, bytes: 4096 });
  });

  it('a corrupt record with valid records after it is an error naming the file and offset', async () => {
    await writeRecords(10);
    const [seg] = listSegments(dir);
    const buf = readFileSync(seg.file);
    const third = SEGMENT_MAGIC.length + 2 * (HEADER_BYTES + payload(1).length);
    buf[third + HEADER_BYTES + 3] ^= 0xff; // one payload byte of version 3
    writeFileSync(seg.file, buf);
    expect(() => readSegments(dir)).toThrow(new RegExp(`${seg.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} offset ${third}: corrupt WAL record`));
  });

  it('a bad record in a segment that is not the last is an error, not a torn tail', async () => {
    const wal = new WalWriter(dir, 'group');
    for (let v = 1; v <= 3; v++) await wal.append(v, payload(v));
    wal.rollAfterVersion(3);
    for (let v = 4; v <= 5; v++) await wal.append(v, payload(v));
    await wal.close();
    const segs = listSegments(dir);
    expect(segs.map((s) => s.first)).toEqual([1, 4]);
    truncateSync(segs[0].file, statSync(segs[0].file).size - 2);
    expect(() => readSegments(dir)).toThrow(/offset \d+: corrupt WAL record/);
  });

  it('rolls to a new segment after the version it is told, even with records of both sides in one batch', async () => {
    const wal = new WalWriter(dir, 'group');
    wal.rollAfterVersion(2);
    await Promise.all([1, 2, 3, 4].map((v) => wal.append(v, payload(v))));
    await wal.close();
    expect(listSegments(dir).map((s) => s.first)).toEqual([1, 3]);
    expect(readSegments(dir).records.map((r) => r.version)).toEqual([1, 2, 3, 4]);
  });
});
