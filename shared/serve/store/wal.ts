/**
 * The write-ahead log: every acknowledged write (ingest or delete) is a record in a file on local disk, written and
 * fsync'd before the write is applied or acknowledged.
 *
 * Files: `<data>/wal/<first version, 20 digits>.wal`, one segment after another. A segment starts with the 8-byte
 * magic `RAGWAL01`; then records, little-endian:
 *
 *     offset  bytes  field
 *     0       4      record magic 0x57414C52 ("RWAL")
 *     4       4      payload length n (1 … 1 GiB)
 *     8       4      CRC-32 of bytes 4..8 (length), 12..20 (version) and the payload
 *     12      8      version (the index version this write produced; consecutive, no gaps)
 *     20      n      payload: the write as JSON ({kind:'ingest', docs} | {kind:'delete', ids})
 *
 * Group commit (`WalWriter.append`): records that arrive while a write + fdatasync is in progress wait in a buffer and
 * share the next one, so a burst of N writes costs about one fsync per round, not N (throughput figures in
 * shared/serve/README.md, `npm run bench:writes`). `fsync: 'every'` (one fsync per record, no sharing) and 'off' (no
 * fsync: survives a process crash, not a power cut) exist for that benchmark.
 *
 * Reading (`readSegments`): a bad record at the end of the last segment (header or payload cut short, checksum wrong,
 * zeros) is a torn write from a crash: it is reported and cut off (the file is truncated), never replayed. A bad
 * record with a valid record anywhere after it, or in any segment but the last, is corruption in the middle: an error
 * naming the file and the offset (the log cannot be trusted past it, and skipping it would lose acknowledged writes).
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { RagError } from '../../errors.ts';
import { crc32, fsyncDir } from '../../util/durable-fs.ts';

export const SEGMENT_MAGIC = Buffer.from('RAGWAL01', 'ascii');
export const RECORD_MAGIC = 0x57414c52;
export const HEADER_BYTES = 20;
const MAX_PAYLOAD = 1 << 30;

export type FsyncMode = 'group' | 'every' | 'off';
export const FSYNC_MODES: readonly FsyncMode[] = ['group', 'every', 'off'];



function recordCrc(buf: Uint8Array, at: number, len: number): number {
  let c = crc32(buf.subarray(at + 4, at + 8));
  c = crc32(buf.subarray(at + 12, at + 20), c);
  return crc32(buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len), c);
}

/** One record: header + payload, ready to write. */
export function encodeRecord(version: number, payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > MAX_PAYLOAD) throw new RagError('INVALID_INPUT', `WAL payload of ${payload.length} bytes`);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  buf.writeUInt32LE(RECORD_MAGIC, 0);
  buf.writeUInt32LE(payload.length, 4);
  buf.writeBigUInt64LE(BigInt(version), 12);
  buf.set(payload, HEADER_BYTES);
  buf.writeUInt32LE(recordCrc(buf, 0, payload.length), 8);
  return buf;
}

/** The record at `at` if it is whole and its checksum holds, else undefined. */
function recordAt(buf: Buffer, at: number): { version: number; payload: Buffer; end: number } | undefined {
  if (at + HEADER_BYTES > buf.length) return undefined;
  if (buf.readUInt32LE(at) !== RECORD_MAGIC) return undefined;
  const len = buf.readUInt32LE(at + 4);
  if (len === 0 || len > MAX_PAYLOAD || at + HEADER_BYTES + len > buf.length) return undefined;
  if (buf.readUInt32LE(at + 8) !== recordCrc(buf, at, len)) return undefined;
  const version = Number(buf.readBigUInt64LE(at + 12));
  return { version, payload: buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len), end: at + HEADER_BYTES + len };
}

/** True if a valid record starts anywhere in buf after `from` (so a bad record before it is not a torn tail). */
function validRecordAfter(buf: Buffer, from: number): number | undefined {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORD_MAGIC, 0);
  for (let at = buf.indexOf(magic, from); at !== -1; at = buf.indexOf(magic, at + 1)) {
    if (recordAt(buf, at)) return at;
  }
  return undefined;
}

export const segmentName = (firstVersion: number) => `${String(firstVersion).padStart(20, '0')}.wal`;

/** The segment files of a WAL directory, oldest first, with the first version each holds (from its name). */
export function listSegments(dir: string): Array<{ file: string; first: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => /^\d{20}\.wal$/.test(n))
    .sort()
    .map((n) => ({ file: join(dir, n), first: Number(n.slice(0, 20)) }));
}

export interface WalRecord {
  version: number;
  payload: Buffer;
  /** Bytes the record takes on disk (header included). */
  bytes: number;
}

export interface ReadResult {
  records: WalRecord[];
  /** Torn tails that were cut off: file, offset, bytes dropped. */
  dropped: Array<{ file: string; offset: number; bytes: number }>;
}

/**
 * Reads every segment in order. A torn tail of the last segment is cut off (file truncated and fsync'd, reported in
 * `dropped`); any other bad record throws RagError 'CORRUPT' naming the file and offset.
 */
export function readSegments(dir: string): ReadResult {
  const segments = listSegments(dir);
  const records: WalRecord[] = [];
  const dropped: ReadResult['dropped'] = [];
  segments.forEach(({ file }, i) => {
    const last = i === segments.length - 1;
    const buf = readFileSync(file);
    const cut = (offset: number) => {
      dropped.push({ file, offset, bytes: buf.length - offset });
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, offset);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    };
    if (buf.length < SEGMENT_MAGIC.length || !buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) {
      // a segment whose header never made it to disk: only possible for the newest one, created just before a crash
      if (last && buf.length < SEGMENT_MAGIC.length && SEGMENT_MAGIC.subarray(0, buf.length).equals(buf.subarray(0, buf.length))) {
        cut(0);
        return;
      }
      throw new RagError('CORRUPT', `${file} offset 0: not a WAL segment (bad magic)`);
    }
    let at = SEGMENT_MAGIC.length;
    while (at < buf.length) {
      const rec = recordAt(buf, at);
      if (rec) {
        records.push({ version: rec.version, payload: rec.payload, bytes: rec.end - at });
        at = rec.end;
        continue;
      }
      const next = validRecordAfter(buf, at + 1);
      if (!last || next !== undefined) {
        throw new RagError(
          'CORRUPT',
          `${file} offset ${at}: corrupt WAL record (bad header or checksum)${next !== undefined ? `, with valid records after it (offset ${next})` : ''}; ` +
            'the log cannot be replayed past it: restore the data directory from a backup, or move the segment away to start from the snapshot before it (losing the writes it holds)',
        );
      }
      cut(at);
      break;
    }
  });
  return { records, dropped };
}

interface Pending {
  version: number;
  buf: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Appends records to the newest segment with group commit. One flush loop runs at a time: it takes every record
 * waiting, writes them with one write and one fdatasync, resolves them in order, and goes again while more arrived.
 */
export class WalWriter {
  private fh: FileHandle | undefined;
  private segmentBytes = 0;
  private queue: Pending[] = [];
  /** True while the flush loop runs; set and cleared synchronously, so an append never waits on a loop that has ended. */
  private flushing = false;
  private loopDone: Promise<void> = Promise.resolve();
  private failed: Error | undefined;
  private rollAfter: number | undefined;
  private closed = false;
  /** fsync calls and records written, for the benchmark and tests. */
  readonly stats = { fsyncs: 0, records: 0, bytes: 0, batches: 0 };

  constructor(
    private readonly dir: string,
    private readonly fsync: FsyncMode = 'group',
    /** Called after a new segment was started (the store deletes segments a snapshot made obsolete). */
    private readonly onNewSegment: () => void = () => {},
  ) {}

  /**
   * Appends one record; resolves once it is on disk (fdatasync'd unless fsync is 'off'). Records must be appended in
   * version order. A write or fsync failure rejects this and every later append: after a failed fsync the state of
   * the file is unknown, so the caller must stop (the service exits and recovers from the log on restart).
   */
  append(version: number, payload: Uint8Array): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('the write-ahead log is closed'));
    const buf = encodeRecord(version, payload);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ version, buf, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        this.loopDone = this.flushLoop();
      }
    });
  }

  /** Records after `version` go to a new segment (so every segment before it can be deleted once a snapshot at `version` exists). */
  rollAfterVersion(version: number): void {
    this.rollAfter = version;
  }

  /** Waits for every append so far, then closes the segment. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.loopDone;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async openSegment(firstVersion: number): Promise<void> {
    await this.fh?.close();
    const file = join(this.dir, segmentName(firstVersion));
    const fh = await open(file, 'wx');
    await writeAll(fh, SEGMENT_MAGIC);
    await fh.sync();
    await fsyncDir(this.dir); // the new file's directory entry survives a crash too
    this.fh = fh;
    this.segmentBytes = SEGMENT_MAGIC.length;
    this.onNewSegment();
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.fsync === 'every' ? this.queue.splice(0, 1) : this.queue.splice(0, this.queue.length);
      try {
        let from = 0;
        for (let i = 0; i < batch.length; i++) {
          const v = batch[i].version;
          if (this.fh && this.rollAfter !== undefined && v > this.rollAfter) {
            // everything up to the roll point is in this segment: finish it, start the next one at v
            await this.writeGroup(batch.slice(from, i));
            from = i;
            await this.fh.close();
            this.fh = undefined;
          }
          if (!this.fh) {
            await this.openSegment(v);
            if (this.rollAfter !== undefined && v > this.rollAfter) this.rollAfter = undefined;
          }
        }
        await this.writeGroup(batch.slice(from));
        this.stats.batches++;
        for (const p of batch) p.resolve();
      } catch (err) {
        this.failed = err as Error;
        for (const p of [...batch, ...this.queue.splice(0)]) p.reject(this.failed);
        break;
      }
    }
    // in the same synchronous step as the emptiness check above: an append that comes next starts a new loop
    this.flushing = false;
  }

  /** One write and (unless fsync is 'off') one fdatasync for a run of records going to the open segment. */
  private async writeGroup(group: Pending[]): Promise<void> {
    if (group.length === 0) return;
    const bytes = group.length === 1 ? group[0].buf : Buffer.concat(group.map((p) => p.buf));
    await writeAll(this.fh!, bytes);
    this.segmentBytes += bytes.length;
    if (this.fsync !== 'off') {
      await this.fh!.datasync();
      this.stats.fsyncs++;
    }
    this.stats.records += group.length;
    this.stats.bytes += bytes.length;
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}
