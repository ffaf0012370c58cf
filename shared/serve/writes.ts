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
 */
import { Queue, QueueEvents, Worker } from 'bullmq';
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

export interface WritePath {
  submit(op: WriteOp): Promise<WriteAck>;
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
 */
export class Sequencer implements WritePath {
  private seq: number;

  constructor(
    private readonly fanout: (version: number, op: WriteOp) => Promise<ApplyOutcome>,
    startVersion = 0,
  ) {
    this.seq = startVersion;
  }

  get version(): number {
    return this.seq;
  }

  async submit(op: WriteOp): Promise<WriteAck> {
    const version = ++this.seq;
    const outcome = await this.fanout(version, op);
    return { version, outcome };
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

/** The submitting side of the BullMQ write path: adds a job and waits until the sequencer has finished it. */
export class QueueWritePath implements WritePath {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly timeoutMs: number;

  constructor(opts: QueueWriteOptions) {
    const connection = redisConnection(opts.redisUrl);
    this.queue = new Queue(opts.name, { connection });
    this.events = new QueueEvents(opts.name, { connection });
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async submit(op: WriteOp): Promise<WriteAck> {
    const job = await this.queue.add(op.kind, op, { removeOnComplete: { age: 60 }, removeOnFail: { age: 600 }, attempts: 1 });
    return (await job.waitUntilFinished(this.events, this.timeoutMs)) as WriteAck;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}

/** The consuming side: one BullMQ worker (concurrency 1) feeding jobs to the sequencer in queue order. */
export function startQueueConsumer(opts: QueueWriteOptions, sequencer: Sequencer): Worker {
  return new Worker(opts.name, async (job) => sequencer.submit(job.data as WriteOp), {
    connection: redisConnection(opts.redisUrl),
    concurrency: 1,
  });
}
