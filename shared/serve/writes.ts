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
 */
import type { Queue, QueueEvents, Worker } from 'bullmq';
import type { Engine, IngestResult } from '../engine.ts';
import { isRagError, RagError } from '../errors.ts';
import type { Doc } from '../types.ts';
import { redisConnection } from '../util/redis.ts';

export type WriteOp = { kind: 'ingest'; docs: Doc[] } | { kind: 'delete'; ids: string[] };

/** What a replica reports after applying an op: counts, or the error every replica hit (the engine validates first). */
export type ApplyOutcome =
  | { ok: true; result: Partial<IngestResult> & { removed?: number } }
  | { ok: false; code: string; message: string };

export interface WriteAck {
  /** The index version this write produced; queries after the ack use it or a later one. */
  version: number;
  outcome: ApplyOutcome;
}

/** What a replica knew when a delete was submitted: at `version`, which of the op's ids it held. */
export interface Presence {
  version: number;
  present: boolean[];
}

export interface WritePath {
  /** `seen`: for a delete, which ids the submitting replica holds (lets an unknown-id delete change nothing). */
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

  constructor(
    private readonly fanout: (version: number, op: WriteOp) => Promise<ApplyOutcome>,
    startVersion = 0,
  ) {
    this.seq = startVersion;
  }

  get version(): number {
    return this.seq;
  }

  async submit(op: WriteOp, seen?: Presence): Promise<WriteAck> {
    if (op.kind === 'delete' && seen && !op.ids.some((id, i) => this.isPresent(id, seen, i))) {
      // the submitter's own version: acknowledging a later one would move it past writes it has not applied yet
      return { version: seen.version, outcome: { ok: true, result: { removed: 0 } } };
    }
    const version = ++this.seq;
    const ids = op.kind === 'ingest' ? op.docs.map((d) => (d as { id?: unknown }).id).filter((id): id is string => typeof id === 'string') : op.ids;
    for (const id of ids) this.touched.set(id, { seq: version, present: op.kind === 'ingest' });
    try {
      const outcome = await this.fanout(version, op);
      return { version, outcome };
    } finally {
      for (const id of ids) if (this.touched.get(id)?.seq === version) this.touched.delete(id);
    }
  }

  /** Whether `id` is there after every numbered write: a write the replica had not applied yet decides, else the replica. */
  private isPresent(id: string, seen: Presence, i: number): boolean {
    const t = this.touched.get(id);
    return t && t.seq > seen.version ? t.present : seen.present[i] === true;
  }
}

/**
 * A WritePath that attaches the submitting replica's `Presence` to every delete (what it holds, at its version), so
 * the Sequencer can answer a delete of an unknown id without numbering it.
 */
export function presenceAware(path: WritePath, replica: () => { version: number; engine?: { hasDocument(id: string): boolean } }): WritePath {
  return {
    submit(op, seen) {
      if (op.kind !== 'delete' || seen) return path.submit(op, seen);
      const r = replica();
      if (!r.engine) return path.submit(op);
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

  constructor(private readonly applyOne: (version: number, op: WriteOp) => Promise<ApplyOutcome>) {}

  apply(version: number, op: WriteOp): Promise<ApplyOutcome> {
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
