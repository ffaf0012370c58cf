/**
 * What before.ts and after.ts share: the service interface, the HTTP plumbing and the Redis probe. The lesson is
 * about WHERE the chunk → embed → index work runs (inside the request, or in a queue worker), so everything else lives
 * here, written once. No runtime engine imports: the API process of after.ts loads this file and should start fast
 * (the engine the documents go into is built by lesson-engine.ts).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { validateDoc } from '../../shared/corpus/chunk.ts';
import type { Engine } from '../../shared/engine.ts';
import { isRagError, RagError } from '../../shared/errors.ts';
import type { Doc } from '../../shared/types.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Test and fault-injection hooks; every one is optional and off by default. */
export interface Hooks {
  /**
   * Called when work on a document starts (in the request handler, or in the queue worker), before `failAttempt`.
   * The work waits for the promise it returns: the checkpoint holds the workers with it, to see what the API answers
   * while nothing has been indexed, and to keep a first job busy while a second upload of the same document arrives.
   */
  hold?: (docId: string) => Promise<void> | undefined;
  /**
   * Called before a document is indexed, with the attempt number: how many times this document's work has been
   * tried, this time included (1 = first try). Return true to fail this attempt with a transient error (a flaky
   * embedding service, a timeout): someone is expected to retry.
   */
  failAttempt?: (docId: string, attempt: number) => boolean;
  /**
   * Called after a document was written to the index, before the work is acknowledged. Return true to crash right
   * there: the queue worker dies holding the job (after.ts), or the request handler drops the connection without an
   * answer (before.ts). The write happened but nobody was told, so the document WILL be processed again.
   */
  crashAfterIndex?: (docId: string) => boolean;
}

export interface ServiceOptions {
  /** Where documents are indexed. Build one with `createLessonEngine` (lesson-engine.ts). */
  engine: Engine;
  /** Redis for the queue (after.ts only; before.ts ignores it). Default env REDIS_URL, else redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** Queue workers (after.ts only). Default 2. */
  workers?: number;
  /** Jobs each worker runs at once (after.ts only). Default 1. */
  concurrency?: number;
  /** Attempts per document before it counts as failed (first try included). Default 5. */
  attempts?: number;
  /** First retry delay in ms; doubles on every further retry. Default 50. */
  backoffMs?: number;
  /** How long a worker's job lock lives without renewal (after.ts). Default 5000 ms. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired (after.ts). Default 1000 ms. */
  stalledIntervalMs?: number;
  hooks?: Hooks;
}

export interface IngestService {
  /** Base URL, e.g. http://127.0.0.1:41234. `POST /documents` takes one Doc as JSON. */
  readonly url: string;
  /** `true` when a POST only enqueues (202) and the work happens later in a worker. */
  readonly queued: boolean;
  /** How many times each document id was written to the index (at-least-once means ≥ 1; > 1 after a crash). */
  readonly writes: ReadonlyMap<string, number>;
  /** Resolves when every accepted document is indexed; rejects naming the documents that failed for good. */
  drain(timeoutMs?: number): Promise<void>;
  /** Stops the server and the workers, removes the queue from Redis. */
  close(): Promise<void>;
}

/** The error a `failAttempt` hook injects. */
export class TransientError extends Error {
  constructor(docId: string, attempt: number) {
    super(`transient failure indexing ${docId} (attempt ${attempt})`);
    this.name = 'TransientError';
  }
}

/** Reads a JSON body (at most `limit` bytes) and checks it is a Doc; throws RagError('INVALID_INPUT') otherwise. */
export async function readDoc(req: IncomingMessage, limit = 10_000_000): Promise<Doc> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > limit) throw new RagError('INVALID_INPUT', `body over ${limit} bytes`);
    parts.push(part as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new RagError('INVALID_INPUT', 'body is not valid JSON');
  }
  return validateDoc(body, 0);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** 400 for bad input, 503 for a transient failure (retry), 500 otherwise. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) return;
  if (isRagError(err, 'INVALID_INPUT')) sendJson(res, 400, { error: err.message });
  else if (err instanceof TransientError) sendJson(res, 503, { error: err.message });
  else sendJson(res, 500, { error: (err as Error).message ?? String(err) });
}

export { redisConnection } from '../../shared/util/redis.ts';

export function redisUrl(opts: { redisUrl?: string } = {}): string {
  return opts.redisUrl ?? (process.env.REDIS_URL || DEFAULT_REDIS_URL);
}

/** undefined when Redis answers PING within a second, else the reason to skip (with how to start it). */
export async function redisSkipReason(url = redisUrl()): Promise<string | undefined> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (err) {
    return `Redis unreachable at ${url} (${(err as Error).message}): start it with \`redis-server --daemonize yes\` or set REDIS_URL`;
  } finally {
    probe.disconnect();
  }
}

/** A name no other run uses: `t1-task-queue-<pid>-<random>`. */
export function uniqueQueueName(): string {
  return `t1-task-queue-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Stops accepting, drops idle keep-alive connections, resolves when the server is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
