/**
 * The write path. Every ingest and delete is a `WriteOp` that gets a sequence number (the new index version) from one
 * place, is applied in that order by every engine replica, and is acknowledged only once every replica applied it.
 *
 *   single process            WritePath = Sequencer (applies locally, in order)
 *   single process + Redis    WritePath = BullMQ queue → a BullMQ Worker in the same process → Sequencer
 *   cluster worker            WritePath = IPC to the primary → Sequencer in the primary → broadcast to all workers
 *   cluster worker + Redis    WritePath = BullMQ queue → BullMQ Worker in the primary → Sequencer → broadcast
 *
 * The Sequencer numbers ops as they arrive (versions are dense, one order for everyone) and hands each to the fan-out
 * at once, without waiting for the previous one to be applied: every replica applies strictly in version order
 * anyway (RagServer.applySequenced chains them), so an acknowledgement of version v still means v and everything
 * before it is applied everywhere. Pipelined, a burst of writes costs one apply per replica each, not a full round
 * trip each (serialised, writes under the mixed load test queued behind one another: see README.md).
 *
 * Durability: with a data directory (the default of `npm run serve`), the fan-out of the single server and of the
 * cluster primary first appends the op to the write-ahead log (store/store.ts) and applies it only once it is on
 * disk, so an acknowledged write survives kill -9 and no replica ever shows a write that a crash could take back.
 *
 * A delete of an id that is not there changes nothing: the Sequencer answers it `removed: 0` without a version (so no
 * replica moves, no cache is emptied). Whether the id is there is decided at the sequencing point, exactly: the
 * submitting replica says what it holds at its version (`Presence`), and the Sequencer corrects that for writes it
 * has numbered but that replica has not applied yet.
 *
 * Likewise an ingest of a document exactly as the index already holds it (same id, title, text and metadata:
 * `docFingerprint`, corpus/diff.ts) does nothing: the Sequencer remembers the fingerprint each document was last
 * written with through it, drops such documents from the op (no chunking, no embedding, no log record) and counts
 * them as `unchanged`; an ingest of unchanged documents only is answered at once, without a version. It remembers
 * only what it numbered (the documents of the saved index are not known: re-sending one is re-indexed), at most
 * FINGERPRINT_CAPACITY documents, and forgets everything at a reload.
 */
import type { Queue, QueueEvents, Worker } from 'bullmq';
import { docFingerprint } from '../corpus/diff.ts';
import type { Engine, IngestResult } from '../engine.ts';
import { isRagError, RagError } from '../errors.ts';
import type { Doc } from '../types.ts';
import { redisConnection } from '../util/redis.ts';

export type WriteOp = { kind: 'ingest'; docs: Doc[] } | { kind: 'delete'; ids: string[] };

/**
 * A hot update (reload.ts): from this version on, the engine is the saved index in `dir` (a copy in the data
 * directory, or the directory given when there is none) with every write numbered after `from` applied on top. It is
 * numbered and logged like a write, so every replica swaps at exactly this version, between two writes.
 */
export interface ReloadOp {
  kind: 'reload';
  /** The saved index the replicas load (the copy in the data directory). */
  dir: string;
  /** The version the new index's contents stand for: writes numbered after it are applied on top of it. */
  from: number;
  /** The directory the reload was asked for, and that index's savedAt (a restart with --index there is accepted). */
  source: string;
  savedAt: string;
}

/** What the log holds and every replica applies in version order: a write or a reload. */
export type LogOp = WriteOp | ReloadOp;

/** What a replica reports after applying an op: counts, or the error every replica hit (the engine validates first). */
export type ApplyOutcome =
  | { ok: true; result: Partial<IngestResult> & { removed?: number; unchanged?: number } }
  | { ok: false; code: string; message: string };

export interface WriteAck {
  /** The index version this write produced; queries after the ack use it or a later one. */
  version: number;
  outcome: ApplyOutcome;
}

/**
 * What a replica knew when a write was submitted: its `version`, and for a delete which of the op's ids it held
 * (an ingest: empty).
 */
export interface Presence {
  version: number;
  present: boolean[];
}

export interface WritePath {
  /**
   * `seen`: the submitting replica's version and, for a delete, which ids it holds (lets an unknown-id delete and an
   * ingest of unchanged documents change nothing).
   */
  submit(op: WriteOp, seen?: Presence): Promise<WriteAck>;
  close?(): Promise<void>;
}

/** Applies one op to one engine; engine errors become an outcome (so a bad batch does not kill a replica). */
export async function applyWrite(engine: Engine, op: WriteOp): Promise<ApplyOutcome> {
  try {
    if (op.kind === 'ingest') {
      const r = await engine.ingest(op.docs);
      return { ok: true, result: { documents: r.documents, chunks: r.chunks, replaced: r.replaced } };
    }
    return { ok: true, result: engine.remove(op.ids) };
  } catch (err) {
    return { ok: false, code: isRagError(err) ? err.code : 'INTERNAL', message: (err as Error).message };
  }
}

/** docFingerprint, computed once per document object (an ingest's documents are compared, then remembered). */
const fingerprintMemo = new WeakMap<Doc, string>();
function fingerprintOf(doc: Doc): string {
  let fp = fingerprintMemo.get(doc);
  if (fp === undefined) fingerprintMemo.set(doc, (fp = docFingerprint(doc)));
  return fp;
}

/** How many documents' fingerprints a Sequencer remembers (about 150 bytes each); the oldest are forgotten. */
export const FINGERPRINT_CAPACITY = 100_000;

/**
 * Orders writes: each gets the next version number when it is submitted and goes to `fanout` right away; `fanout`
 * applies it everywhere (each replica in version order) and resolves with the outcome once every replica has it.
 *
 * A delete submitted with `seen` whose ids are all absent (as of the latest numbered write) gets no version: it
 * resolves at once with `removed: 0` and the submitter's own version (`seen.version`), and nothing else happens.
 */
export class Sequencer implements WritePath {
  private seq: number;
  /** The latest numbered write touching each id, while that write is still being applied somewhere. */
  private readonly touched = new Map<string, { seq: number; present: boolean }>();
  /** The version of the latest reload: a replica's presence from before it is no answer (its documents were replaced). */
  private reloadedAt = 0;
  /** Each document's fingerprint as the latest numbered ingest wrote it, and that ingest's version (oldest first). */
  private readonly fingerprints = new Map<string, { fp: string; seq: number }>();

  constructor(
    private readonly fanout: (version: number, op: LogOp) => Promise<ApplyOutcome>,
    startVersion = 0,
  ) {
    this.seq = startVersion;
  }

  get version(): number {
    return this.seq;
  }

  async submit(op: LogOp, seen?: Presence): Promise<WriteAck> {
    if (op.kind === 'delete' && seen && !op.ids.some((id, i) => this.isPresent(id, seen, i))) {
      // the submitter's own version: acknowledging a later one would move it past writes it has not applied yet
      return { version: seen.version, outcome: { ok: true, result: { removed: 0 } } };
    }
    let unchanged = 0;
    if (op.kind === 'ingest' && seen) {
      const split = this.splitUnchanged(op.docs, seen.version);
      unchanged = split.unchanged;
      if (split.changed.length === 0) {
        // every document is in the index exactly so, on the submitter's replica and everywhere: nothing to do
        return { version: seen.version, outcome: { ok: true, result: { documents: 0, chunks: 0, replaced: 0, unchanged } } };
      }
      if (unchanged > 0) op = { kind: 'ingest', docs: split.changed };
    }
    const version = ++this.seq;
    const ids =
      op.kind === 'ingest'
        ? op.docs.map((d) => (d as { id?: unknown }).id).filter((id): id is string => typeof id === 'string')
        : op.kind === 'delete'
          ? op.ids
          : [];
    // a reload replaces every document: what a replica held before it says nothing about presence after it
    if (op.kind === 'reload') this.reloadedAt = version;
    for (const id of ids) this.touched.set(id, { seq: version, present: op.kind === 'ingest' });
    this.remember(version, op);
    try {
      let outcome = await this.fanout(version, op);
      if (!outcome.ok && op.kind === 'ingest') {
        // refused (every replica validates the same way): the documents are as they were before it, unknown here
        for (const id of ids) if (this.fingerprints.get(id)?.seq === version) this.fingerprints.delete(id);
      }
      if (outcome.ok && unchanged > 0) outcome = { ok: true, result: { ...outcome.result, unchanged } };
      return { version, outcome };
    } finally {
      for (const id of ids) if (this.touched.get(id)?.seq === version) this.touched.delete(id);
    }
  }

  /**
   * Records what write `version` leaves in the index: an ingest's fingerprints, a delete's absence, a reload's
   * unknown documents. Also for the writes a restart recovers from the log (single.ts, cluster/primary.ts).
   */
  remember(version: number, op: LogOp): void {
    if (op.kind === 'reload') {
      this.fingerprints.clear();
      return;
    }
    if (op.kind === 'delete') {
      for (const id of op.ids) this.fingerprints.delete(id);
      return;
    }
    for (const doc of op.docs) {
      const id = (doc as { id?: unknown }).id;
      if (typeof id !== 'string') continue;
      this.fingerprints.delete(id);
      if (typeof doc.text !== 'string') continue;
      this.fingerprints.set(id, { fp: fingerprintOf(doc), seq: version });
    }
    // bounded: the oldest are forgotten (re-sending one of them is re-indexed, as if it were new here)
    for (const id of this.fingerprints.keys()) {
      if (this.fingerprints.size <= FINGERPRINT_CAPACITY) break;
      this.fingerprints.delete(id);
    }
  }

  /**
   * The documents of an ingest that change something, and how many do not: a document is unchanged when its
   * fingerprint is the one the latest numbered write of its id left, that write is applied everywhere (not in
   * flight) and at or before the submitter's `version`. A batch naming an id twice is taken as it is.
   */
  private splitUnchanged(docs: Doc[], version: number): { changed: Doc[]; unchanged: number } {
    const ids = new Set<string>();
    for (const d of docs) {
      const id = (d as { id?: unknown }).id;
      if (typeof id !== 'string' || typeof d.text !== 'string' || ids.has(id)) return { changed: docs, unchanged: 0 };
      ids.add(id);
    }
    const changed: Doc[] = [];
    for (const d of docs) {
      const known = this.fingerprints.get(d.id);
      const same = known !== undefined && known.seq <= version && !this.touched.has(d.id) && known.fp === fingerprintOf(d);
      if (!same) changed.push(d);
    }
    return { changed, unchanged: docs.length - changed.length };
  }

  /** Whether `id` is there after every numbered write: a write the replica had not applied yet decides, else the replica. */
  private isPresent(id: string, seen: Presence, i: number): boolean {
    if (seen.version < this.reloadedAt) return true;
    const t = this.touched.get(id);
    return t && t.seq > seen.version ? t.present : seen.present[i] === true;
  }
}

/**
 * A WritePath that attaches the submitting replica's `Presence` to every write (its version; for a delete, which ids
 * it holds), so the Sequencer can answer a delete of an unknown id, or an ingest of unchanged documents, without
 * numbering it.
 */
export function presenceAware(path: WritePath, replica: () => { version: number; engine?: { hasDocument(id: string): boolean } }): WritePath {
  return {
    submit(op, seen) {
      if (seen) return path.submit(op, seen);
      const r = replica();
      if (!r.engine) return path.submit(op);
      if (op.kind === 'ingest') return path.submit(op, { version: r.version, present: [] });
      const engine = r.engine;
      return path.submit(op, { version: r.version, present: op.ids.map((id) => engine.hasDocument(id)) });
    },
    close: path.close ? () => path.close!() : undefined,
  };
}

/**
 * Hands ops to a replica one after another in the order given, and runs a `barrier` task exactly between two of them
 * (after every op given before it is applied, before any op given after it starts): how a snapshot sees the engine at
 * precisely one version while writes keep arriving.
 */
export class OrderedApplier {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly applyOne: (version: number, op: LogOp) => Promise<ApplyOutcome>) {}

  apply(version: number, op: LogOp): Promise<ApplyOutcome> {
    return this.chain(() => this.applyOne(version, op));
  }

  barrier<T>(task: () => Promise<T>): Promise<T> {
    return this.chain(task);
  }

  private chain<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.then(task, task);
    this.tail = p.catch(() => {});
    return p;
  }
}

/** Turns a failed outcome into the RagError the HTTP layer maps to a status code. */
export function outcomeError(outcome: ApplyOutcome): RagError | undefined {
  return outcome.ok ? undefined : new RagError(outcome.code, outcome.message);
}


export interface QueueWriteOptions {
  redisUrl: string;
  /** Queue name; one per index lineage so a restarted cluster never replays another's jobs. */
  name: string;
  /** How long a submitter waits for its job. Default 10 s. */
  timeoutMs?: number;
}

/**
 * The submitting side of the BullMQ write path: adds a job and waits until the sequencer has finished it. BullMQ is
 * imported only here, when REDIS_URL asks for it (loading it costs a starting worker about a second).
 */
export class QueueWritePath implements WritePath {
  private readonly timeoutMs: number;

  private constructor(
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    opts: QueueWriteOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  static async open(opts: QueueWriteOptions): Promise<QueueWritePath> {
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = redisConnection(opts.redisUrl);
    return new QueueWritePath(new Queue(opts.name, { connection }), new QueueEvents(opts.name, { connection }), opts);
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async submit(op: WriteOp, seen?: Presence): Promise<WriteAck> {
    const job = await this.queue.add(op.kind, { op, seen } satisfies QueuedWrite, { removeOnComplete: { age: 60 }, removeOnFail: { age: 600 }, attempts: 1 });
    return (await job.waitUntilFinished(this.events, this.timeoutMs)) as WriteAck;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}

/** A job of the write queue. */
interface QueuedWrite {
  op: WriteOp;
  seen?: Presence;
}

/** The consuming side: one BullMQ worker (concurrency 1) feeding jobs to the sequencer in queue order. */
export async function startQueueConsumer(opts: QueueWriteOptions, sequencer: Sequencer): Promise<Worker> {
  const { Worker } = await import('bullmq');
  return new Worker(opts.name, async (job) => sequencer.submit((job.data as QueuedWrite).op, (job.data as QueuedWrite).seen), {
    connection: redisConnection(opts.redisUrl),
    concurrency: 1,
  });
}
