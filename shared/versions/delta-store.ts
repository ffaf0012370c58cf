/**
 * Every version of every document, stored as a full copy every K versions (a checkpoint) and as a delta from the
 * previous version in between (lesson t2/06-delta-storage, which measured the choices).
 *
 *     const store = createDeltaStore({ backend: new MemoryBackend(), checkpointEvery: 16 });
 *     const v = store.append('brown/ca01', text);   // 0, 1, 2, … per document
 *     store.get('brown/ca01', v) === text;           // byte-identical
 *
 * Records go to a `RecordBackend` under `recordKey(docId, version)`: one byte of kind (0 full text, 1 delta from the
 * previous version), then the UTF-8 text or the delta (`encodeDelta` in diff.ts). Version v is rebuilt from the
 * checkpoint at or below it, c = v − v mod K, and the deltas c+1 … v: at most K records read and K − 1 deltas applied,
 * whatever the length of the history. A full copy every version is K = 1; no checkpoint at all (K = ∞) makes the
 * last version of a long history cost every delta since the first.
 *
 * In memory: per document, the count and its latest text (what the next append is diffed against), nothing else.
 *
 * The backend is anything with `put` and `get` by key: a Map (`MemoryBackend`), a key-value store, or a log whose
 * records are these bytes (the service's write-ahead log: see t2/07-versions/README.md, "Carrying it into the engine").
 */
import { RagError } from '../errors.ts';
import { applyDelta, dmpDiff, makeDelta, type DiffFn } from './diff.ts';

/** Where a store's records live. */
export interface RecordBackend {
  put(key: string, bytes: Uint8Array): void;
  get(key: string): Uint8Array | undefined;
}

/** Versions of documents: append a text, read any version back exactly. */
export interface VersionStore {
  /** Stores `text` as the next version of document `docId`; returns its version number (0 for the first). */
  append(docId: string, text: string): number;
  /** The text of version `version` of `docId`, exactly as appended. Throws RagError NOT_FOUND for an unknown version. */
  get(docId: string, version: number): string;
  /** How many versions of `docId` are stored (0 for an unknown document). */
  versions(docId: string): number;
}

export interface DeltaStoreOptions {
  backend: RecordBackend;
  /** A full copy every this many versions of a document (version 0, K, 2K, …). Default 16. */
  checkpointEvery?: number;
  /** How deltas are computed. Default `dmpDiff` (diff-match-patch). */
  diff?: DiffFn;
}

export const DEFAULT_CHECKPOINT_EVERY = 16;

/** The key of version `version` of `docId` in a backend. */
export function recordKey(docId: string, version: number): string {
  return `${docId}@${version}`;
}

/** Record kinds: the first byte of every record. */
export const FULL = 0;
export const DELTA = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A backend in a Map, which counts what it holds and what was read. */
export class MemoryBackend implements RecordBackend {
  private readonly records = new Map<string, Uint8Array>();
  /** Bytes of every record held. */
  bytes = 0;
  /** Records read so far. */
  reads = 0;

  put(key: string, bytes: Uint8Array): void {
    this.bytes += bytes.length - (this.records.get(key)?.length ?? 0);
    this.records.set(key, bytes);
  }

  get(key: string): Uint8Array | undefined {
    this.reads++;
    return this.records.get(key);
  }

  get size(): number {
    return this.records.size;
  }
}

/** A record: kind byte + payload. */
function record(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + payload.length);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

export function createDeltaStore(opts: DeltaStoreOptions): ResumableVersionStore {
  return new DeltaStore(opts);
}

/**
 * A store whose backend outlives it (records on disk): `resume(docId, count)` says that the backend already holds
 * versions 0 … count − 1 of `docId` (written by an earlier process with the same `checkpointEvery`), so the next
 * append is version `count`, diffed against version count − 1, which is rebuilt from the backend when first needed.
 */
export interface ResumableVersionStore extends VersionStore {
  resume(docId: string, count: number): void;
}

/**
 * The store itself. A class rather than closures so that its state is in properties, where `reachableBytes`
 * (sizeof.ts) can count it.
 */
class DeltaStore implements VersionStore {
  private readonly k: number;
  private readonly diff: DiffFn;
  private readonly backend: RecordBackend;
  /**
   * Per document: versions stored, and the latest text (what the next append is diffed against); undefined after
   * `resume` until it is first needed.
   */
  private readonly docs = new Map<string, { count: number; latest: string | undefined }>();

  constructor(opts: DeltaStoreOptions) {
    const k = opts.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isInteger(k) || k < 1) throw new RagError('INVALID_INPUT', `checkpointEvery must be a positive integer, got ${k}`);
    this.k = k;
    this.diff = opts.diff ?? dmpDiff;
    this.backend = opts.backend;
  }

  append(docId: string, text: string): number {
    if (typeof text !== 'string') throw new RagError('INVALID_INPUT', `append: text of ${docId} must be a string`);
    const doc = this.docs.get(docId);
    const version = doc?.count ?? 0;
    const bytes =
      doc === undefined || version % this.k === 0
        ? record(FULL, encoder.encode(text))
        : record(DELTA, makeDelta(this.latestOf(docId, doc), text, this.diff));
    this.backend.put(recordKey(docId, version), bytes);
    this.docs.set(docId, { count: version + 1, latest: text });
    return version;
  }

  get(docId: string, version: number): string {
    const doc = this.docs.get(docId);
    if (!doc || !Number.isInteger(version) || version < 0 || version >= doc.count) {
      throw new RagError('NOT_FOUND', `${docId} has no version ${version} (it has ${doc?.count ?? 0})`);
    }
    if (version === doc.count - 1) return this.latestOf(docId, doc);
    return this.rebuild(docId, version);
  }

  resume(docId: string, count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new RagError('INVALID_INPUT', `resume: count of ${docId} must be a non-negative integer, got ${count}`);
    if (count === 0) this.docs.delete(docId);
    else this.docs.set(docId, { count, latest: undefined });
  }

  private latestOf(docId: string, doc: { count: number; latest: string | undefined }): string {
    if (doc.latest === undefined) doc.latest = this.rebuild(docId, doc.count - 1);
    return doc.latest;
  }

  /** Version `version` from the checkpoint at or below it and the deltas after it. */
  private rebuild(docId: string, version: number): string {
    const start = version - (version % this.k);
    const first = this.read(docId, start);
    if (first[0] !== FULL) throw new RagError('CORRUPT', `version ${start} of ${docId} should be a full copy`);
    let text = decoder.decode(first.subarray(1));
    for (let v = start + 1; v <= version; v++) {
      const r = this.read(docId, v);
      if (r[0] !== DELTA) throw new RagError('CORRUPT', `version ${v} of ${docId} should be a delta`);
      text = applyDelta(text, r.subarray(1));
    }
    return text;
  }

  versions(docId: string): number {
    return this.docs.get(docId)?.count ?? 0;
  }

  private read(docId: string, version: number): Uint8Array {
    const r = this.backend.get(recordKey(docId, version));
    if (!r || r.length === 0) throw new RagError('CORRUPT', `version ${version} of ${docId}: record missing from the backend`);
    return r;
  }
}
