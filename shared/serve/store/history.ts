/**
 * Every document's version history in a data directory: each acknowledged ingest or delete of a document, under the
 * service version of the write that made it (GET /v1/documents/:id/versions, POST …/rollback; routes/versions.ts).
 *
 *     <data>/history/history.log   one frame per write: [u32 length][u32 CRC-32][payload]
 *                                  payload = [u32 header length][header JSON][record bytes of each document]
 *
 * The texts are a delta store (shared/versions/delta-store.ts, lesson t2/06): a full copy every
 * CHECKPOINT_EVERY versions of a document, a diff-match-patch delta from the previous version in between. Its records
 * are the bytes after each frame's header; in memory the history keeps, per document, its entries (version, time,
 * kind, bytes, title, metadata, where its text record is) and the delta store's latest text, never the old texts:
 * reading version v reads at most CHECKPOINT_EVERY records from the file by offset.
 *
 * Why it is crash-safe (the write-ahead log is the source of truth, the history is derived from it):
 *
 * - a write is recorded once every replica has applied it (so a write the engine refused is never history), with one
 *   `writeSync` of one frame, before the write is acknowledged: a kill -9 after the acknowledgement finds it in the
 *   file (the page cache outlives the process);
 * - a frame cut short by a crash fails its length or CRC and is cut off at start (`open`); the write it held is still
 *   in the log, and a start records every replayed write newer than the history's `last` (single.ts), so the file
 *   catches up with the log after any crash;
 * - before the log drops records (DurableStore.prune, after a snapshot), the history file is fsync'd
 *   (`DurableStore.beforePrune`): a trimmed record's history is on disk even after a power loss.
 *
 * A hot update (reload) replaces every document with the new index's: the history records its version, and a
 * document's state as of a version after a reload that came after its last write is unknown (404), not guessed.
 * `at` is when the history recorded the write (for a write recovered from the log after a crash: the recovery time).
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RagError } from '../../errors.ts';
import type { Doc, Metadata } from '../../types.ts';
import { crc32 } from '../../util/durable-fs.ts';
import { createDeltaStore, recordKey, type RecordBackend, type ResumableVersionStore } from '../../versions/delta-store.ts';
import type { ApplyOutcome, LogOp } from '../writes.ts';

/** A full copy of a document's text every this many of its versions (lesson t2/06 measured 16 as a good trade). */
export const CHECKPOINT_EVERY = 16;

export type HistoryKind = 'ingest' | 'delete';

/** One version of one document, as GET /v1/documents/:id/versions lists it. */
export interface HistoryEntry {
  /** The service version of the write. */
  version: number;
  /** When the history recorded it (ISO 8601). */
  at: string;
  kind: HistoryKind;
  /** Bytes the history file holds for this version of this document (its text record and its header entry). */
  bytes: number;
}

/** A document as of a version (GET /v1/documents/:id/versions/:v). */
export interface DocumentVersion {
  id: string;
  /** The version of the write that left the document so (at or before the version asked for). */
  version: number;
  at: string;
  text: string;
  title?: string;
  metadata?: Metadata;
}

/** As of a version, a document is there (`doc`) or was deleted by the write at `version`. */
export type DocumentState = { kind: 'ingest'; doc: DocumentVersion } | { kind: 'delete'; version: number; at: string };

/** What the routes read. */
export interface HistoryReader {
  /** Every version of `id`, oldest first; NOT_FOUND when the history has none. */
  list(id: string): HistoryEntry[];
  /** `id` as of service version `asOf`; NOT_FOUND when the history cannot say. */
  stateAt(id: string, asOf: number): DocumentState;
}

interface Entry extends HistoryEntry {
  /** Version of the text in the delta store (ingest), or −1 (delete). */
  n: number;
  title?: string;
  metadata?: Metadata;
}

/** The header of one frame. */
interface FrameHeader {
  v: number;
  at: string;
  kind: 'ingest' | 'delete' | 'reload';
  docs?: Array<{ id: string; n?: number; title?: string; metadata?: Metadata; len?: number }>;
}

const FRAME_HEADER = 8;

/** Delta-store records by key, each a slice of the history file read by offset. */
class FileBackend implements RecordBackend {
  readonly where = new Map<string, { offset: number; len: number }>();
  /** Records put by the delta store and not yet written (one frame at a time). */
  pending: Array<{ key: string; bytes: Uint8Array }> = [];

  constructor(private readonly fd: () => number) {}

  put(key: string, bytes: Uint8Array): void {
    this.pending.push({ key, bytes });
  }

  get(key: string): Uint8Array | undefined {
    const w = this.where.get(key);
    if (!w) return undefined;
    const buf = Buffer.allocUnsafe(w.len);
    readSync(this.fd(), buf, 0, w.len, w.offset);
    return buf;
  }
}

export interface HistoryLog {
  warn: (obj: object, msg: string) => void;
  error: (obj: object, msg: string) => void;
}

export class DocumentHistory implements HistoryReader {
  readonly file: string;
  private fd: number;
  private size: number;
  private readonly docs = new Map<string, Entry[]>();
  private readonly texts: ResumableVersionStore;
  private readonly backend: FileBackend;
  /** Versions of the hot updates recorded, in order. */
  private readonly reloads: number[] = [];
  private lastVersion = 0;
  private unsynced = false;
  /** Read-only (a cluster worker): the file is another process's; `refresh` reads the frames added since. */
  private readonly readOnly: boolean;
  /** Bytes of the file read into the index so far (a read-only history). */
  private parsed = 0;
  /** Set when a frame could not be written: the history no longer matches the log (answers 503 until a restart). */
  failed: string | undefined;

  private constructor(file: string, readOnly: boolean) {
    this.file = file;
    this.readOnly = readOnly;
    if (!readOnly) closeSync(openSync(file, 'a'));
    // not O_APPEND: frames are written at `size`, so a torn tail cut off at start is overwritten
    this.fd = openSync(file, readOnly ? 'r' : 'r+');
    this.size = fstatSync(this.fd).size;
    this.backend = new FileBackend(() => this.fd);
    this.texts = createDeltaStore({ backend: this.backend, checkpointEvery: CHECKPOINT_EVERY });
  }

  /** Opens (or creates) `<dataDir>/history/history.log`, reads it and cuts off a frame a crash left incomplete. */
  static open(dataDir: string, log: HistoryLog): DocumentHistory {
    const dir = join(dataDir, 'history');
    mkdirSync(dir, { recursive: true });
    const h = new DocumentHistory(join(dir, 'history.log'), false);
    h.load(log);
    return h;
  }

  /**
   * The history another process (the cluster primary) writes, read-only: what is in the file now, and on every
   * `list`/`stateAt` the frames added since (a frame being written, cut short or failing its CRC, is read next time).
   * The primary writes a write's frame before acknowledging it, so a read after an acknowledgement sees it.
   */
  static openReader(dataDir: string): DocumentHistory {
    const h = new DocumentHistory(join(dataDir, 'history', 'history.log'), true);
    h.load({ warn: () => {}, error: () => {} });
    return h;
  }

  /** The newest service version the file holds a frame of (0 for none). */
  get last(): number {
    return this.lastVersion;
  }

  get stats(): { documents: number; versions: number; bytes: number } {
    let versions = 0;
    for (const e of this.docs.values()) versions += e.length;
    return { documents: this.docs.size, versions, bytes: this.size };
  }

  /**
   * Records write `version` once every replica applied it with `outcome`: an ingest's documents, a delete's ids that
   * had a version here, a reload. A refused write is not history. Versions must increase.
   */
  record(version: number, op: LogOp, outcome: ApplyOutcome): void {
    if (this.readOnly) throw new Error('document history: read-only here');
    if (!outcome.ok || version <= this.lastVersion) return;
    const at = new Date().toISOString();
    if (op.kind === 'reload') return this.write({ v: version, at, kind: 'reload' }, []);
    if (op.kind === 'delete') {
      // an id with no version here (from the saved index, or already deleted) still gets its delete: the write removed it
      const ids = op.ids.filter((id) => this.isPresentOrUnknown(id));
      if (ids.length === 0) return;
      return this.write({ v: version, at, kind: 'delete', docs: ids.map((id) => ({ id })) }, []);
    }
    const docs: NonNullable<FrameHeader['docs']> = [];
    this.backend.pending = [];
    for (const d of op.docs as Doc[]) {
      const n = this.texts.append(d.id, d.text);
      const rec = this.backend.pending.at(-1)!;
      docs.push({ id: d.id, n, len: rec.bytes.length, ...(d.title !== undefined ? { title: d.title } : {}), ...(d.metadata !== undefined ? { metadata: d.metadata } : {}) });
    }
    const records = this.backend.pending;
    this.backend.pending = [];
    this.write({ v: version, at, kind: 'ingest', docs }, records);
  }

  /** fsync: every frame written so far is on disk (DurableStore calls it before dropping log records). */
  sync(): void {
    if (!this.unsynced) return;
    fsyncSync(this.fd);
    this.unsynced = false;
  }

  close(): void {
    try {
      if (!this.readOnly) this.sync();
    } finally {
      closeSync(this.fd);
    }
  }

  list(id: string): HistoryEntry[] {
    this.refresh();
    const entries = this.docs.get(id);
    if (!entries) throw new RagError('NOT_FOUND', `no version history for document ${JSON.stringify(id)} (it was never written through this service)`);
    return entries.map(({ version, at, kind, bytes }) => ({ version, at, kind, bytes }));
  }

  stateAt(id: string, asOf: number): DocumentState {
    this.refresh();
    const entries = this.docs.get(id);
    if (!entries) throw new RagError('NOT_FOUND', `no version history for document ${JSON.stringify(id)} (it was never written through this service)`);
    let i = entries.length - 1;
    while (i >= 0 && entries[i].version > asOf) i--;
    if (i < 0) throw new RagError('NOT_FOUND', `document ${JSON.stringify(id)} has no version at or before ${asOf} (its first is ${entries[0].version})`);
    const e = entries[i];
    const reload = this.reloads.find((r) => r > e.version && r <= asOf);
    if (reload !== undefined) {
      throw new RagError(
        'NOT_FOUND',
        `a hot update at version ${reload} replaced the index after the last write of ${JSON.stringify(id)} at or before ${asOf} (version ${e.version}): its state as of ${asOf} is not in the history`,
      );
    }
    if (e.kind === 'delete') return { kind: 'delete', version: e.version, at: e.at };
    const text = this.texts.get(id, e.n);
    return {
      kind: 'ingest',
      doc: { id, version: e.version, at: e.at, text, ...(e.title !== undefined ? { title: e.title } : {}), ...(e.metadata !== undefined ? { metadata: e.metadata } : {}) },
    };
  }

  /** A delete is history for an id whose last entry is not already a delete. */
  private isPresentOrUnknown(id: string): boolean {
    const last = this.docs.get(id)?.at(-1);
    return last === undefined || last.kind !== 'delete';
  }

  private write(header: FrameHeader, records: Array<{ key: string; bytes: Uint8Array }>): void {
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const recBytes = records.reduce((s, r) => s + r.bytes.length, 0);
    const payloadLen = 4 + json.length + recBytes;
    const frame = Buffer.allocUnsafe(FRAME_HEADER + payloadLen);
    frame.writeUInt32LE(payloadLen, 0);
    frame.writeUInt32LE(json.length, FRAME_HEADER);
    json.copy(frame, FRAME_HEADER + 4);
    let at = FRAME_HEADER + 4 + json.length;
    const offsets: number[] = [];
    for (const r of records) {
      frame.set(r.bytes, at);
      offsets.push(at);
      at += r.bytes.length;
    }
    frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER)), 4);
    try {
      let done = 0;
      while (done < frame.length) done += writeSync(this.fd, frame, done, frame.length - done, this.size + done);
    } catch (err) {
      this.failed = `the history file ${this.file} could not be written (${(err as Error).message})`;
      throw err;
    }
    const start = this.size;
    this.size += frame.length;
    this.unsynced = true;
    records.forEach((r, i) => this.backend.where.set(r.key, { offset: start + offsets[i], len: r.bytes.length }));
    this.index(header, json.length);
  }

  /** Adds a frame's entries to the in-memory index. */
  private index(h: FrameHeader, jsonBytes: number): void {
    this.lastVersion = h.v;
    if (h.kind === 'reload') {
      this.reloads.push(h.v);
      return;
    }
    const docs = h.docs ?? [];
    const share = Math.ceil((jsonBytes + FRAME_HEADER + 4) / Math.max(1, docs.length));
    for (const d of docs) {
      let entries = this.docs.get(d.id);
      if (!entries) this.docs.set(d.id, (entries = []));
      entries.push({
        version: h.v,
        at: h.at,
        kind: h.kind,
        bytes: (d.len ?? 0) + share,
        n: h.kind === 'ingest' ? d.n! : -1,
        ...(d.title !== undefined ? { title: d.title } : {}),
        ...(d.metadata !== undefined ? { metadata: d.metadata } : {}),
      });
    }
  }

  /** A read-only history: reads the frames added to the file since the last read. */
  private refresh(): void {
    if (!this.readOnly) return;
    const size = fstatSync(this.fd).size;
    if (size > this.parsed) {
      this.size = size;
      this.load({ warn: () => {}, error: () => {} });
    }
  }

  /**
   * Reads every frame from `parsed` on; a frame that is cut short or fails its CRC ends the file (it is truncated
   * there, unless read-only: then it is read again next time).
   */
  private load(log: HistoryLog): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER);
    let pos = this.parsed;
    const counts = new Map<string, number>();
    while (pos + FRAME_HEADER <= this.size) {
      readSync(this.fd, head, 0, FRAME_HEADER, pos);
      const len = head.readUInt32LE(0);
      if (pos + FRAME_HEADER + len > this.size || len < 4) break;
      const payload = Buffer.allocUnsafe(len);
      readSync(this.fd, payload, 0, len, pos + FRAME_HEADER);
      if (crc32(payload) !== head.readUInt32LE(4)) break;
      const jsonLen = payload.readUInt32LE(0);
      let header: FrameHeader;
      try {
        header = JSON.parse(payload.subarray(4, 4 + jsonLen).toString('utf8')) as FrameHeader;
      } catch {
        break;
      }
      let at = pos + FRAME_HEADER + 4 + jsonLen;
      for (const d of header.docs ?? []) {
        if (header.kind !== 'ingest') continue;
        this.backend.where.set(recordKey(d.id, d.n!), { offset: at, len: d.len! });
        at += d.len!;
        counts.set(d.id, d.n! + 1);
      }
      this.index(header, jsonLen);
      pos += FRAME_HEADER + len;
    }
    this.parsed = pos;
    if (pos < this.size && !this.readOnly) {
      log.warn({ file: this.file, offset: pos, bytes: this.size - pos }, 'dropped an incomplete frame at the end of the document history (a crash cut it short; the write-ahead log still holds that write)');
      ftruncateSync(this.fd, pos);
      fsyncSync(this.fd);
      this.size = pos;
    }
    for (const [id, count] of counts) this.texts.resume(id, count);
  }
}
