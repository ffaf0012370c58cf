/**
 * The ingest worker of the split engine: the one writer of an index. It takes write jobs from a BullMQ queue on Redis
 * (the gateway adds them: gateway-writes.ts), turns each into a `SplitWriteOp` (shard-writes.ts) and publishes it to
 * the index's NATS JetStream stream through `JetStreamWritePath` (jetstream-log.ts); the job completes, and the
 * gateway acknowledges the write, only once every registered shard has applied it.
 *
 *   gateway ──job {ingest docs | delete ids}──▶ Redis (BullMQ) ──▶ ingest worker (concurrency 1)
 *     ingest: validate, chunk (the index's chunk options), embed (embedder service), give out labels
 *     ──publish op (Nats-Msg-Id = the job's)──▶ stream RAG_<log> ──▶ every shard applies it (shard-service.ts)
 *     ◀── applied by all ── job completed {version} ──▶ gateway answers 200 (acknowledged)
 *
 * **Labels never collide, across restarts.** One worker gives out labels (concurrency 1, one process per index).
 * Every op carries `nextLabel`, the counter after it; a (re)starting worker reads the last op of the stream and goes
 * on from its `nextLabel` (an empty stream: the saved index's `state.nextLabel`). So a worker killed after publishing
 * resumes above everything the stream holds, whatever it had in memory. A second worker on the same index at the
 * same time would give out the same labels (not guarded: run one).
 *
 * **A job is retried, an op is stored once.** A worker killed mid-job leaves the job active with a lock that
 * expires (`lockDuration`); the stalled-job check of the next worker puts it back and it runs again. If the first run
 * had published already, the publish of the rerun carries the same message id (job id, its creation time, part: ids BullMQ counts afresh after a Redis that lost
 * its data still differ) and JetStream returns the first copy's
 * sequence (`duplicate`) within its 2-minute window: the rerun waits for that version and completes the job with it.
 * Later than that, the rerun is stored again: an ingest of the same documents again (a replace: same result) or a
 * delete again (nothing left to remove).
 *
 * A job whose op is over the stream's message size (NATS max_payload, 1 MiB by default) is published as several ops,
 * a group of documents each, and completes when the last is applied (a search may see the first group before the
 * last); one document over the limit fails the job (400).
 *
 * Run as a process (the supervisor does this): `node --import tsx shared/services/ingest-worker.ts --index <dir>
 * --embedder <url> --log <name> [--queue <name>] [--redis <url>] [--nats <url>] [--lock-ms MS] [--hold-ms MS]`, the secret in env
 * RAG_INTERNAL_TOKEN. It serves `status` over HTTP RPC (and /readyz once it takes jobs).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Job, Worker } from 'bullmq';
import { chunkDocument, indexText, validateDoc, type ChunkOptions } from '../corpus/chunk.ts';
import { LIMITS } from '../engine.ts';
import { isRagError, RagError } from '../errors.ts';
import type { LogOp } from '../serve/writes.ts';
import type { Doc } from '../types.ts';
import { createServiceMetrics, watchIngest } from '../observe/service-metrics.ts';
import { redisConnection } from '../util/redis.ts';
import type { EmbedReply } from './embedder-service.ts';
import { MAX_EMBED_TEXTS } from './embedder-service.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { connectNats, JetStreamWritePath, logNames, type ReplicaCount } from './jetstream-log.ts';
import { RpcError, type RpcClient } from './rpc.ts';
import { chunkView, flag, serviceMain } from './shard-service.ts';
import { encodeVector, type SplitDoc, type SplitWriteOp } from './shard-writes.ts';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** A job of the split's write queue (what the gateway adds). */
export type SplitJob = { kind: 'ingest'; docs: unknown[] } | { kind: 'delete'; ids: string[] };

/** A completed job's result. */
export interface SplitJobResult {
  /** The stream sequence (index version) of the job's last op: every shard had applied it when the job completed. */
  version: number;
  documents?: number;
  chunks?: number;
  /** Ops the job became (more than 1: split to fit the stream's message size). */
  ops: number;
  /** The op was in the stream already (a rerun after a crash): its first copy's version. */
  duplicate: boolean;
}

/** How a failed job says why (BullMQ keeps the message only): `{code, message}` as JSON. */
export function jobError(code: string, message: string): Error {
  return new Error(JSON.stringify({ code, message }));
}

export function parseJobError(failedReason: string): RagError {
  try {
    const e = JSON.parse(failedReason) as { code?: string; message?: string };
    if (typeof e.code === 'string' && typeof e.message === 'string') return new RagError(e.code, e.message);
  } catch {
    /* not ours: BullMQ's own (a stalled job over its limit, …) */
  }
  return new RagError('UNAVAILABLE', `the write job failed: ${failedReason}`);
}

/** What the saved index says about writing to it: chunk options and the first free label. */
export async function indexWriteInfo(dir: string): Promise<{ chunk: ChunkOptions; nextLabel: number }> {
  const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { state?: { nextLabel?: number }; config?: { chunk?: ChunkOptions } };
  const nextLabel = m.state?.nextLabel;
  if (!Number.isInteger(nextLabel)) throw new RagError('CORRUPT', `${dir}/manifest.json has no state.nextLabel`);
  return { chunk: m.config?.chunk ?? {}, nextLabel: nextLabel! };
}

/** The `nextLabel` of the last op in the log's stream, or undefined when the stream holds none. */
export async function nextLabelFromLog(nc: NatsConnection, log: string): Promise<number | undefined> {
  const names = logNames(log);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(names.stream);
  if (info.state.messages === 0) return undefined;
  const m = await jsm.streams.getMessage(names.stream, { last_by_subj: names.subject });
  if (!m) return undefined;
  const op = m.json<Partial<SplitWriteOp>>();
  if (!Number.isInteger(op.nextLabel)) throw new RagError('CORRUPT', `the last op of stream ${names.stream} (seq ${m.seq}) carries no nextLabel`);
  return op.nextLabel;
}

export interface IngestWorkerOptions {
  /** The saved index the shards serve (chunk options, first free label). */
  index: string;
  embedderUrl: string;
  /** The write log's name (stream RAG_<log>), as the shards'. */
  log: string;
  /** BullMQ queue name; default `rag-split-<log>`. */
  queue?: string;
  redisUrl?: string;
  natsUrl?: string;
  /** Shards that must have applied an op before its job completes. Default 'all' (every registered shard). */
  replicas?: ReplicaCount;
  /** How long an op may take to be applied, ms. Default 30 s. */
  applyTimeoutMs?: number;
  /** The service credential (embedder calls, this worker's status RPC); default env RAG_INTERNAL_TOKEN. */
  secret?: string;
  /** BullMQ lock of an active job, ms: a killed worker's job runs again this long after (plus a stalled check). Default 5000. */
  lockDurationMs?: number;
  /** How often the stalled-job check runs, ms. Default 1000. */
  stalledIntervalMs?: number;
  /**
   * Tests and lessons: keep each job open this long after its last op was applied, before completing it (widens the
   * window in which a crash leaves an op in the stream and its job unfinished: the rerun must not store it twice).
   */
  holdAfterApplyMs?: number;
  port?: number;
}

export function queueName(log: string, queue?: string): string {
  return queue ?? `rag-split-${log}`;
}

/** Largest op the worker publishes, bytes (under NATS max_payload, with room for headers). */
function opLimit(nc: NatsConnection): number {
  const max = (nc.info?.max_payload as number | undefined) ?? 1024 * 1024;
  return Math.floor(max * 0.9);
}

export class IngestWorker {
  /** Jobs completed and failed, ops published (tests and `status`). */
  readonly counts = { completed: 0, failed: 0, ops: 0, duplicates: 0 };
  private constructor(
    private readonly nc: NatsConnection,
    private readonly path: JetStreamWritePath,
    private readonly embedder: RpcClient,
    private readonly chunkOpts: ChunkOptions,
    private label: number,
    readonly opts: IngestWorkerOptions,
  ) {}

  worker: Worker | undefined;

  static async start(opts: IngestWorkerOptions): Promise<IngestWorker> {
    const info = await indexWriteInfo(opts.index);
    const nc = await connectNats(opts.natsUrl);
    try {
      const path = await JetStreamWritePath.open({ nc, index: opts.log, replicas: opts.replicas ?? 'all', timeoutMs: opts.applyTimeoutMs ?? 30_000 });
      const fromLog = await nextLabelFromLog(nc, opts.log);
      const embedder = httpRpcClient(opts.embedderUrl, { secret: opts.secret ?? process.env.RAG_INTERNAL_TOKEN });
      const w = new IngestWorker(nc, path, embedder, info.chunk, Math.max(info.nextLabel, fromLog ?? 0), opts);
      const { Worker } = await import('bullmq');
      w.worker = new Worker(queueName(opts.log, opts.queue), (job: Job) => w.run(job), {
        connection: redisConnection(opts.redisUrl ?? REDIS_URL),
        concurrency: 1,
        lockDuration: opts.lockDurationMs ?? 5000,
        stalledInterval: opts.stalledIntervalMs ?? 1000,
        maxStalledCount: 5,
      });
      w.worker.on('failed', () => w.counts.failed++);
      w.worker.on('completed', () => w.counts.completed++);
      w.worker.on('error', (err) => process.stderr.write(`ingest worker: ${err.message}\n`));
      await w.worker.waitUntilReady();
      return w;
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  /** The next label it gives out. */
  get nextLabel(): number {
    return this.label;
  }

  private async run(job: Job): Promise<SplitJobResult> {
    try {
      const data = job.data as SplitJob;
      if (data.kind === 'delete') {
        if (!Array.isArray(data.ids) || data.ids.length === 0 || data.ids.some((id) => typeof id !== 'string' || id.length === 0)) {
          throw new RagError('INVALID_INPUT', 'delete needs a non-empty list of non-empty ids');
        }
        return await this.publish(job, [{ kind: 'delete', ids: data.ids, nextLabel: this.label }]);
      }
      if (data.kind !== 'ingest' || !Array.isArray(data.docs) || data.docs.length === 0) throw new RagError('INVALID_INPUT', 'a job is {kind: ingest, docs} or {kind: delete, ids}');
      const docs = validateDocs(data.docs);
      const built = await this.buildIngest(docs);
      const r = await this.publish(job, built.ops);
      return { ...r, documents: docs.length, chunks: built.chunks };
    } catch (err) {
      const code = isRagError(err) ? err.code : err instanceof RpcError ? 'UNAVAILABLE' : 'INTERNAL';
      throw jobError(code, (err as Error).message);
    }
  }

  private async buildIngest(docs: Doc[]): Promise<{ ops: SplitWriteOp[]; chunks: number }> {
    return buildIngestOps(docs, {
      chunk: this.chunkOpts,
      nextLabel: this.label,
      maxOpBytes: opLimit(this.nc),
      embed: async (texts) => {
        const r = await this.embedder.call<EmbedReply>('embed', { texts }, { deadlineMs: 30_000 });
        return r.vectors.map((v) => Float32Array.from(v));
      },
    });
  }

  /** Publishes the job's ops in order (message id: job id + part), waiting for each to be applied by the asked shards. */
  private async publish(job: Job, ops: SplitWriteOp[]): Promise<SplitJobResult> {
    let version = 0;
    let duplicate = false;
    for (let i = 0; i < ops.length; i++) {
      // given out before the publish: a crash after it cannot hand these labels out again (the stream has them)
      this.label = Math.max(this.label, ops[i].nextLabel);
      const ack = await this.path.submit(ops[i] as unknown as LogOp, undefined, { id: `job-${job.id}-${job.timestamp}-${i}` });
      if (!ack.outcome.ok) throw new RagError(ack.outcome.code, ack.outcome.message);
      this.counts.ops++;
      if (ack.duplicate) {
        this.counts.duplicates++;
        duplicate = true;
      }
      version = ack.version;
    }
    if (this.opts.holdAfterApplyMs) await new Promise((r) => setTimeout(r, this.opts.holdAfterApplyMs));
    if (duplicate) {
      // the first run's copy is what the stream holds: go on above its labels (never below what was given out)
      const fromLog = await nextLabelFromLog(this.nc, this.opts.log);
      if (fromLog !== undefined) this.label = Math.max(this.label, fromLog);
    }
    return { version, ops: ops.length, duplicate };
  }

  async close(): Promise<void> {
    await this.worker?.close().catch(() => {});
    await this.path.close().catch(() => {});
    await this.embedder.close().catch(() => {});
    await this.nc.close().catch(() => {});
  }
}

/**
 * An ingest as the shards apply it: the documents chunked (the index's chunk options), embedded (`embed`, at most
 * MAX_EMBED_TEXTS texts a call), labelled from `nextLabel` in document order, chunk order (what the monolith's
 * ingest gives new documents), and grouped into ops of at most `maxOpBytes` of JSON each.
 */
export async function buildIngestOps(
  docs: Doc[],
  opts: { chunk: ChunkOptions; nextLabel: number; maxOpBytes: number; embed: (texts: string[]) => Promise<Float32Array[]> },
): Promise<{ ops: SplitWriteOp[]; chunks: number }> {
  const chunked = docs.map((d) => ({ doc: d, chunks: chunkDocument(d, opts.chunk) }));
  const texts = chunked.flatMap((c) => c.chunks.map(indexText));
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += MAX_EMBED_TEXTS) vectors.push(...(await opts.embed(texts.slice(i, i + MAX_EMBED_TEXTS))));
  if (vectors.length !== texts.length) throw new RagError('INTERNAL', `the embedder returned ${vectors.length} vectors for ${texts.length} texts`);
  let label = opts.nextLabel;
  let at = 0;
  const splitDocs: SplitDoc[] = chunked.map(({ doc, chunks }) => ({
    id: doc.id,
    chunks: chunks.map((c) => ({ label: label++, chunk: chunkView(c), vector: encodeVector(vectors[at++]) })),
  }));
  const limit = opts.maxOpBytes;
  const ops: SplitWriteOp[] = [];
  let group: SplitDoc[] = [];
  let size = 0;
  let groupNext = opts.nextLabel;
  const flush = () => {
    if (group.length > 0) ops.push({ kind: 'ingest', docs: group, nextLabel: groupNext });
    group = [];
    size = 0;
  };
  for (const d of splitDocs) {
    const bytes = Buffer.byteLength(JSON.stringify(d)) + 1;
    if (bytes + 64 > limit) throw new RagError('INVALID_INPUT', `document ${d.id}: its chunks and vectors take ${bytes} bytes, over the write log's ${limit}-byte message limit`);
    if (size + bytes + 64 > limit) flush();
    group.push(d);
    size += bytes;
    if (d.chunks.length > 0) groupNext = d.chunks[d.chunks.length - 1].label + 1;
  }
  flush();
  return { ops, chunks: texts.length };
}

/** The engine's validation of an ingest batch (the gateway runs it too, so a bad batch never enters the queue). */
export function validateDocs(raw: readonly unknown[]): Doc[] {
  const byId = new Map<string, Doc>();
  raw.forEach((r, i) => {
    const doc = validateDoc(r, i);
    if (doc.text.length > LIMITS.maxDocChars) throw new RagError('INVALID_INPUT', `document #${i} (${doc.id}): text over ${LIMITS.maxDocChars} characters`);
    byId.set(doc.id, doc); // last version in a batch wins, as in the engine
  });
  return [...byId.values()];
}

/** The worker and its status RPC (`status` → counts and the next label; /readyz once it takes jobs). */
export async function startIngestWorker(opts: IngestWorkerOptions): Promise<HttpRpcServer & { worker: IngestWorker }> {
  const worker = await IngestWorker.start(opts);
  // GET /metrics (t4/15): the worker's counts and its queue's depth by state, read from Redis at every scrape
  const metrics = createServiceMetrics('ingest');
  const { Queue } = await import('bullmq');
  const queue = new Queue(queueName(opts.log, opts.queue), { connection: redisConnection(opts.redisUrl ?? REDIS_URL) });
  queue.on('error', () => {});
  watchIngest(metrics, { counts: worker.counts, queue: queue.name, jobCounts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized') });
  const server = await serveHttpRpc(
    async (method) => {
      if (method !== 'status') throw new RpcError('NOT_FOUND', `ingest worker has no method "${method}" (status)`);
      return { ...worker.counts, nextLabel: worker.nextLabel };
    },
    { secret: opts.secret ?? process.env.RAG_INTERNAL_TOKEN, port: opts.port ?? 0, metrics: metrics.http },
  );
  const closeServer = server.close.bind(server);
  return Object.assign(server, {
    worker,
    close: async () => {
      await closeServer();
      await queue.close().catch(() => {});
      await worker.close();
    },
  });
}

/** Why tests that need Redis skip, or undefined when it answers. */
export async function redisSkipReason(url = REDIS_URL): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1500, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `Redis unreachable at ${url} (${(err as Error).message}): start redis-server, or set REDIS_URL`;
  } finally {
    r.disconnect();
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  serviceMain('ingest worker', () =>
    startIngestWorker({
      index: flag('index'),
      embedderUrl: flag('embedder'),
      log: flag('log'),
      queue: flag('queue', '') || undefined,
      redisUrl: flag('redis', '') || undefined,
      natsUrl: flag('nats', '') || undefined,
      port: Number(flag('port', '0')),
      lockDurationMs: flag('lock-ms', '') ? Number(flag('lock-ms')) : undefined,
      holdAfterApplyMs: flag('hold-ms', '') ? Number(flag('hold-ms')) : undefined,
    }),
  );
}
