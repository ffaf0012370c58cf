/**
 * The gateway's write routes (the monolith's shared/serve/routes/documents.ts, same bodies and answers) and how its
 * collection statistics follow the writes.
 *
 *     POST   /v1/documents      {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}
 *     DELETE /v1/documents/:id  → {version, removed}; 404 for an unknown id
 *     DELETE /v1/documents      {ids: [...]} → {version, removed}; 404 when none of them exists
 *
 * Write scope and write budget (access.ts), the monolith's schemas and id rule (ids.ts), and the engine's document
 * checks: a bad request is a 400 and never becomes a job. A good one becomes a BullMQ job on Redis; the gateway
 * waits for the job's result (the ingest worker completes it once every shard applied its op: ingest-worker.ts) and
 * only then answers 200: **a 200 is the acknowledgement**. Anything else (a timeout, a Redis or worker failure) is a
 * 503/504 and means "not known to be applied": the write may still appear (its job may run, or have run, later), and
 * the client sends it again; writes are idempotent by document id (an ingest replaces, a delete of what is gone
 * removes nothing), and an `Idempotency-Key` header makes the job's id, so a retry while the first job is still
 * known to Redis waits for that job instead of adding a second.
 *
 * Redis here runs without persistence (`--save ''`): a Redis restart loses every job that was queued or running,
 * and their submitters' waits end in an error (never a 200). "Jobs lost: 0" therefore holds for acknowledged
 * writes only, which the stream keeps (file storage); an unacknowledged job may be lost and is the client's to retry.
 *
 * `removed` and `replaced` count the documents the shards held when the request came in (`has` on every shard;
 * a shard that does not answer makes the write a 503, as the write could not be applied by every shard anyway).
 *
 * **Statistics.** Every shard scores BM25 with the collection's statistics, which the gateway sums from the shards'
 * (`Gateway.init`). After a write they change, so: `refreshStats` re-reads them bracketed by the shards' versions,
 * until every shard was at one version v from before the read to after it (the statistics are then exactly v's);
 * a write route waits for a read of them that started after its job completed (a client that searches through this
 * gateway after its 200 is scored with statistics that include its write), and `followStats` refreshes whenever a
 * shard reports an applied op (writes through another gateway); both share one refresh at a time (`statsRefresher`).
 * Between two ops a search can still meet shards at different versions, or statistics one op behind the postings:
 * its scores are then between two versions' (hits from v and v+1). When writes pause, every answer again equals the monolith's at that version.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Job, Queue, QueueEvents } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { isRagError, RagError } from '../errors.ts';
import { HttpError } from '../serve/http-errors.ts';
import { checkIds } from '../serve/ids.ts';
import { deleteBody, deleteParams, ingestBody } from '../serve/schemas.ts';
import type { Doc } from '../types.ts';
import { redisConnection } from '../util/redis.ts';
import { parseJobError, queueName, REDIS_URL, validateDocs, type SplitJob, type SplitJobResult } from './ingest-worker.ts';
import { connectNats, logNames } from './jetstream-log.ts';
import type { RpcClient } from './rpc.ts';

const WRITE = { access: 'write', budget: 'write' } as const;

export interface WriteQueueOptions {
  /** The write log's name (as the worker's and the shards'): the queue is `rag-split-<log>` unless `queue` says. */
  log: string;
  queue?: string;
  redisUrl?: string;
  /** How long a request waits for its job. Default 30 s. */
  timeoutMs?: number;
}

/** The submitting side of the split's write queue. */
export class SplitWriteQueue {
  private constructor(
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    readonly timeoutMs: number,
  ) {}

  static async open(opts: WriteQueueOptions): Promise<SplitWriteQueue> {
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = redisConnection(opts.redisUrl ?? REDIS_URL);
    const name = queueName(opts.log, opts.queue);
    const q = new SplitWriteQueue(new Queue(name, { connection }), new QueueEvents(name, { connection }), opts.timeoutMs ?? 30_000);
    await Promise.all([q.queue.waitUntilReady(), q.events.waitUntilReady()]);
    return q;
  }

  /** Adds the job (id: the idempotency key's, else a new one) and waits for its result: resolved = acknowledged. */
  async submit(job: SplitJob, idempotencyKey?: string): Promise<SplitJobResult> {
    const jobId = idempotencyKey !== undefined ? `ik-${idempotencyKey}` : randomUUID();
    let added: Job;
    try {
      added = await this.queue.add(job.kind, job, { jobId, attempts: 1, removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } });
    } catch (err) {
      throw new RagError('UNAVAILABLE', `the write queue is unreachable: ${(err as Error).message}`);
    }
    try {
      return (await added.waitUntilFinished(this.events, this.timeoutMs)) as SplitJobResult;
    } catch (err) {
      const msg = (err as Error).message;
      if (/timed out/i.test(msg)) throw new RagError('DEADLINE_EXCEEDED', `the write was not acknowledged within ${this.timeoutMs} ms (it may still be applied: send it again)`);
      throw parseJobError(msg);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}

/** Each shard's version (`has` with no ids); rejects when one does not answer. */
export async function shardVersions(shards: readonly RpcClient[], deadlineMs = 2000): Promise<number[]> {
  const r = await Promise.all(shards.map((s) => s.call<{ version: number }>('has', { ids: [] }, { deadlineMs })));
  return r.map((x) => x.version);
}

/**
 * Re-reads the collection statistics (`read`, e.g. `() => gateway.init()`) once every shard is at version ≥
 * `atLeast`, until every shard was at one version throughout the read. Resolves with that version, or undefined when
 * writes kept landing during `tries` reads (the statistics are then of some mix of consecutive versions; the next
 * applied op refreshes them again).
 */
export async function refreshStats(shards: readonly RpcClient[], read: () => Promise<void>, atLeast = 0, tries = 20): Promise<number | undefined> {
  for (let i = 0; i < tries; i++) {
    const before = await shardVersions(shards);
    const low = Math.min(...before);
    if (low < atLeast || Math.max(...before) !== low) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    await read();
    const after = await shardVersions(shards);
    if (after.every((v) => v === low)) return low;
  }
  await read();
  return undefined;
}

/** One refresh of the collection statistics at a time, shared by everyone who needs one (`statsRefresher`). */
export interface StatsRefresher {
  /** Asks for a refresh (`refreshStats`: exact once writes pause); coalesced with the one running, if any. */
  kick(): void;
  /**
   * Asks for a refresh and resolves once a read of the statistics that started after this call has ended (or a
   * refresh round ended without one: a shard not answering). Never rejects.
   */
  fresh(): Promise<void>;
  /** Resolves once no refresh is running. */
  settled(): Promise<void>;
}

/**
 * The statistics refresh of one gateway, shared by the log follower (every applied op) and every acknowledged write
 * (`fresh` before the 200: the job completed once every shard applied the write, so a read that starts after that
 * includes it). At most one `refreshStats` runs; a caller waits for the next read to start and end, not for a
 * refresh loop of its own. (Each write route running its own `refreshStats` loop — up to 20 reads while writes keep
 * landing — made N acknowledgements at once cost up to 20·N reads in parallel: under load each took longer than the
 * client's attempt, whose retry did it all again, and a backlog of completed writes was never acknowledged.)
 */
export function statsRefresher(shards: readonly RpcClient[], read: () => Promise<void>, onError?: (err: Error) => void): StatsRefresher {
  let asked = 0; // requests so far (kick and fresh)
  let served = 0; // every request numbered ≤ served has seen a read start after it and end (or a round end)
  let running: Promise<void> | undefined;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const serve = (n: number) => {
    if (n <= served) return;
    served = n;
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i].n <= served) waiters.splice(i, 1)[0].resolve();
  };
  const counted = async () => {
    const n = asked; // every request up to n was made before this read started
    try {
      await read();
    } finally {
      serve(n);
    }
  };
  const kick = () => {
    asked++;
    if (running) return;
    running = (async () => {
      while (served < asked) {
        const n = asked;
        await refreshStats(shards, counted).catch((err: Error) => onError?.(err));
        serve(n);
      }
      running = undefined;
    })();
  };
  return {
    kick,
    fresh() {
      kick();
      const n = asked;
      return n <= served ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }));
    },
    settled: async () => {
      while (running) await running;
    },
  };
}

/**
 * Refreshes the statistics whenever a shard reports an applied op on the log's progress subject (writes through any
 * gateway), through `refresher` (default: one of its own), which coalesces bursts: at most one refresh runs, and one
 * more after it if ops were applied meanwhile.
 */
export function followStats(opts: {
  nc: NatsConnection;
  log: string;
  shards: readonly RpcClient[];
  read: () => Promise<void>;
  onError?: (err: Error) => void;
  refresher?: StatsRefresher;
}): { stop(): void; settled(): Promise<void>; refresher: StatsRefresher } {
  const sub: Subscription = opts.nc.subscribe(logNames(opts.log).applied);
  const refresher = opts.refresher ?? statsRefresher(opts.shards, opts.read, opts.onError);
  void (async () => {
    for await (const _ of sub) refresher.kick();
  })();
  return {
    stop: () => sub.unsubscribe(),
    settled: () => refresher.settled(),
    refresher,
  };
}

export interface WriteRoutesOptions {
  queue: SplitWriteQueue;
  /** The shard clients (shard i at index i): presence checks, versions. */
  shards: readonly RpcClient[];
  /** Re-reads the gateway's collection statistics (`() => gateway.init()`). */
  readStats: () => Promise<void>;
  /** Deadline of the presence check per shard, ms. Default 2000. */
  hasDeadlineMs?: number;
  /** The gateway's shared statistics refresh (the log follower's); default: one of the routes' own. */
  refresher?: StatsRefresher;
}

/** Which of `ids` any shard holds a chunk of (every shard must answer). */
async function present(opts: WriteRoutesOptions, ids: string[]): Promise<boolean[]> {
  let replies: { present: boolean[] }[];
  try {
    replies = await Promise.all(opts.shards.map((s) => s.call<{ present: boolean[] }>('has', { ids }, { deadlineMs: opts.hasDeadlineMs ?? 2000 })));
  } catch (err) {
    throw new HttpError(503, `a shard did not answer (${(err as Error).message}): a write must reach every shard, try again`, { 'retry-after': '1' });
  }
  return ids.map((_, i) => replies.some((r) => r.present[i] === true));
}

function idempotencyKey(request: FastifyRequest): string | undefined {
  const k = request.headers['idempotency-key'];
  if (k === undefined) return undefined;
  if (typeof k !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(k)) throw new RagError('INVALID_INPUT', 'Idempotency-Key: 1 to 128 printable ASCII characters');
  return k;
}

/**
 * A write that was not acknowledged: 400/404 as the engine says, 504 when the wait ran out, else 503 with
 * Retry-After (the write may or may not be applied: send it again).
 */
function notAcknowledged(err: unknown): Error {
  if (!isRagError(err) || err.code === 'INVALID_INPUT' || err.code === 'NOT_FOUND') return err as Error;
  if (err.code === 'DEADLINE_EXCEEDED') return new HttpError(504, err.message);
  return new HttpError(503, `not acknowledged: ${err.message}`, { 'retry-after': '1' });
}

async function submitted(opts: WriteRoutesOptions, job: SplitJob, key: string | undefined): Promise<SplitJobResult> {
  try {
    return await opts.queue.submit(job, key);
  } catch (err) {
    throw notAcknowledged(err);
  }
}

/** POST /v1/documents, DELETE /v1/documents/:id and DELETE /v1/documents on the gateway's app. */
export function registerWriteRoutes(app: FastifyInstance, opts: WriteRoutesOptions): void {
  const refresher = opts.refresher ?? statsRefresher(opts.shards, opts.readStats);
  const acknowledged = async (_result: SplitJobResult) => {
    // statistics read after the job completed (every shard had applied it) before the 200: the client's next search
    // here includes it; one shared read for every write acknowledged meanwhile, not a refresh loop per write
    await refresher.fresh();
  };

  app.post(
    '/v1/documents',
    { config: WRITE, schema: { body: ingestBody } },
    async (request: FastifyRequest<{ Body: { documents: Doc[] } }>, _reply: FastifyReply) => {
      const docs = request.body.documents;
      checkIds(
        docs.map((d) => d.id),
        (i) => `body.documents.${i}.id`,
        'body.documents',
      );
      validateDocs(docs); // the engine's checks: 400 here, not a failed job
      const key = idempotencyKey(request);
      const held = await present(opts, docs.map((d) => d.id));
      const result = await submitted(opts, { kind: 'ingest', docs }, key);
      await acknowledged(result);
      return { version: result.version, documents: result.documents ?? docs.length, chunks: result.chunks ?? 0, replaced: held.filter(Boolean).length };
    },
  );

  const remove = async (ids: string[], key: string | undefined, none: string) => {
    const held = await present(opts, ids);
    const removed = held.filter(Boolean).length;
    if (removed === 0) throw new RagError('NOT_FOUND', none);
    const result = await submitted(opts, { kind: 'delete', ids }, key);
    await acknowledged(result);
    return { version: result.version, removed };
  };

  app.delete('/v1/documents/:id', { config: WRITE, schema: { params: deleteParams } }, async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const id = request.params.id;
    checkIds([id], () => 'params.id', 'params');
    return remove([id], idempotencyKey(request), `no document with id ${JSON.stringify(id)}`);
  });

  app.delete('/v1/documents', { config: WRITE, schema: { body: deleteBody } }, async (request: FastifyRequest<{ Body: { ids: string[] } }>) => {
    const ids = request.body.ids;
    checkIds(ids, (i) => `body.ids.${i}`, 'body.ids');
    return remove(ids, idempotencyKey(request), `none of the ${ids.length} ids names a document (nothing was removed)`);
  });
}

/**
 * Everything a gateway needs to take writes, in one call (before its app listens): the queue, the routes, and the
 * statistics following the log. `gateway`: the Gateway (its `init` re-reads the statistics; `opts.shards` are its
 * shard clients). Returns what to close when the gateway stops.
 */
export async function attachWrites(
  app: FastifyInstance,
  gateway: { init(): Promise<void>; opts: { shards: RpcClient[] } },
  opts: { log: string; redisUrl?: string; natsUrl?: string; queue?: string; timeoutMs?: number },
): Promise<{ queue: SplitWriteQueue; follower: ReturnType<typeof followStats>; close(): Promise<void> }> {
  const queue = await SplitWriteQueue.open({ log: opts.log, queue: opts.queue, redisUrl: opts.redisUrl, timeoutMs: opts.timeoutMs });
  let nc: NatsConnection;
  try {
    nc = await connectNats(opts.natsUrl);
  } catch (err) {
    await queue.close();
    throw err;
  }
  const shards = gateway.opts.shards;
  const readStats = () => gateway.init();
  const refresher = statsRefresher(shards, readStats, () => {});
  registerWriteRoutes(app, { queue, shards, readStats, refresher });
  const follower = followStats({ nc, log: opts.log, shards, read: readStats, refresher });
  return {
    queue,
    follower,
    close: async () => {
      follower.stop();
      await queue.close();
      await nc.close().catch(() => {});
    },
  };
}
