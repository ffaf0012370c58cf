/**
 * Ingestion through a task queue. Two tiers, as deployed:
 *
 * - the API (its own process, `api-process.ts`): `POST /documents` validates the document, enqueues a BullMQ job in
 *   Redis and answers 202 at once. It never chunks or embeds, so its latency is one Redis round trip, whatever the
 *   ingestion backlog;
 * - the workers (this process, next to the index): take jobs off the queue and do chunk → embed → index.
 *
 * Delivery is at-least-once, so the work must be idempotent:
 *
 * - a job that throws is retried with exponential backoff (`attempts`, `backoff: { type: 'exponential' }`): a
 *   transient failure on the first tries succeeds later, and one that never succeeds ends as a failed job that
 *   `drain` reports, never silently dropped;
 * - a worker that dies mid-job stops renewing the job's lock; after `lockDuration` another worker's stalled-job
 *   check (every `stalledInterval`) moves the job back to the wait list and it runs again. If the dead worker had
 *   already written the index, the document is processed twice;
 * - the index write is an upsert keyed by document id (`engine.ingest` replaces a document with the same id), so
 *   processing twice leaves exactly one copy.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Queue, Worker, type Job } from 'bullmq';
import type { Doc } from '../../shared/types.ts';
import {
  closeServer,
  readDoc,
  redisConnection,
  redisUrl,
  sendError,
  sendJson,
  sleep,
  TransientError,
  uniqueQueueName,
  type IngestService,
  type ServiceOptions,
} from './service.ts';

/** Key prefix of the lesson's queues in Redis (BullMQ's default is 'bull'). */
export const PREFIX = 't1lab';

/** What the API process needs to know: where the queue is, and the retry policy to stamp on every job. */
export interface QueueRef {
  redisUrl: string;
  name: string;
  /** Attempts per job, first try included. */
  attempts: number;
  /** First retry delay, ms (doubles each retry). */
  backoffMs: number;
}

/**
 * The API tier: an HTTP server whose only work per request is validate + enqueue. Runs in its own process
 * (`api-process.ts` imports it from this file), so ingestion work in the workers never delays an answer.
 */
export async function startApi(ref: QueueRef): Promise<{ port: number; close(): Promise<void> }> {
  const queue = new Queue<Doc>(ref.name, {
    connection: redisConnection(ref.redisUrl),
    prefix: PREFIX,
    // Job options are set by whoever ADDS the job: every job carries its retry policy into Redis.
    defaultJobOptions: {
      attempts: ref.attempts,
      backoff: { type: 'exponential', delay: ref.backoffMs },
      removeOnComplete: true,
      removeOnFail: false, // a job that failed for good stays in Redis, to inspect and retry by hand
    },
  });
  queue.on('error', () => {}); // connection errors surface as rejected add() calls → 500, and the client retries
  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'POST' || req.url !== '/documents') {
        sendJson(res, 404, { error: `no route ${req.method} ${req.url}` });
        return;
      }
      const doc = await readDoc(req); // bad input is refused here, never enqueued
      // BullMQ's own job id, one job per upload. A job id made from the document id would be deduplicated: BullMQ
      // ignores an add whose id it still knows (waiting, running, or kept as failed), so an update uploaded while the
      // earlier version is queued would be answered 202 and silently dropped.
      const job = await queue.add('ingest', doc);
      sendJson(res, 202, { id: doc.id, jobId: job.id });
    } catch (err) {
      sendError(res, err);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      await closeServer(server);
      await queue.close();
    },
  };
}

/** Starts the API process for `moduleUrl` (this file, or exercise.ts) and resolves with its port. */
export async function spawnApi(moduleUrl: string, ref: QueueRef): Promise<{ port: number; close(): Promise<void> }> {
  const entry = fileURLToPath(new URL('./api-process.ts', import.meta.url));
  const child = fork(entry, [moduleUrl, JSON.stringify(ref)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number; error?: string }) => (m.port ? resolve(m.port) : reject(new Error(`API process: ${m.error}`))));
    child.once('exit', (code) => reject(new Error(`API process exited with code ${code} before listening`)));
  });
  return {
    port,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.send('close');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export async function startIngestService(opts: ServiceOptions): Promise<IngestService> {
  return startQueueService(opts, import.meta.url);
}

/** The service with `startApi` of `apiModuleUrl` (this file, or a variant of it) running in the API process. */
export async function startQueueService(opts: ServiceOptions, apiModuleUrl: string): Promise<IngestService> {
  const { engine } = opts;
  const hooks = opts.hooks ?? {};
  const attempts = opts.attempts ?? 5;
  const ref: QueueRef = { redisUrl: redisUrl(opts), name: uniqueQueueName(), attempts, backoffMs: opts.backoffMs ?? 50 };
  // The API process is slow to boot (Node, tsx, BullMQ): start it first, it needs nothing from this side but `ref`.
  const starting = spawnApi(apiModuleUrl, ref);
  starting.catch(() => {}); // awaited below; an early failure must not be an unhandled rejection meanwhile
  const connection = redisConnection(ref.redisUrl);
  const writes = new Map<string, number>();
  const tried = new Map<string, number>();

  // This side only watches the queue (drain) and removes it (close); the API process adds the jobs.
  const queue = new Queue<Doc>(ref.name, { connection, prefix: PREFIX });
  queue.on('error', () => {});

  async function handleJob(job: Job<Doc>, worker: Worker<Doc>): Promise<{ chunks: number }> {
    const doc = job.data;
    await hooks.hold?.(doc.id);
    const attempt = (tried.get(doc.id) ?? 0) + 1;
    tried.set(doc.id, attempt);
    if (hooks.failAttempt?.(doc.id, attempt)) throw new TransientError(doc.id, attempt);
    const result = await engine.ingest([doc]); // upsert by doc id: a second run replaces, never duplicates
    writes.set(doc.id, (writes.get(doc.id) ?? 0) + 1);
    if (hooks.crashAfterIndex?.(doc.id)) {
      // Die holding the job: no more lock renewals, no completion. The stalled-job check re-queues it.
      void worker.close(true);
      return new Promise<never>(() => {});
    }
    return { chunks: result.chunks };
  }

  let wake: (() => void) | undefined;
  const workers: Worker<Doc>[] = [];
  for (let i = 0; i < (opts.workers ?? 2); i++) {
    const worker: Worker<Doc> = new Worker<Doc>(ref.name, (job) => handleJob(job, worker), {
      connection,
      prefix: PREFIX,
      concurrency: opts.concurrency ?? 1,
      lockDuration: opts.lockDurationMs ?? 5000,
      stalledInterval: opts.stalledIntervalMs ?? 1000,
    });
    worker.on('completed', () => wake?.());
    worker.on('failed', () => wake?.());
    worker.on('error', () => {}); // a crashed worker's late calls fail; the stalled check recovers its jobs
    workers.push(worker);
  }
  let api: Awaited<typeof starting>;
  try {
    await Promise.all([queue.waitUntilReady(), ...workers.map((w) => w.waitUntilReady())]);
    api = await starting;
  } catch (err) {
    await starting.then((a) => a.close(), () => {});
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
    throw err;
  }

  return {
    url: `http://127.0.0.1:${api.port}`,
    queued: true,
    writes,
    async drain(timeoutMs = 60_000) {
      // Every accepted job is in Redis before its 202 went out: wait until none is waiting, delayed or running.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        const unfinished = c.waiting + c.active + c.delayed + c.prioritized + c['waiting-children'];
        if (unfinished === 0) break;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`drain: ${unfinished} jobs still unfinished after ${timeoutMs} ms (${JSON.stringify(c)})`);
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(Math.min(left, 50))]);
      }
      const failed = await queue.getFailed();
      if (failed.length > 0) {
        const list = failed.map((j) => `${j.data.id} after ${j.attemptsMade} attempt(s): ${j.failedReason}`).join('; ');
        throw new Error(`drain: ${failed.length} document(s) failed for good: ${list}`);
      }
    },
    async close() {
      await api.close();
      await Promise.all(workers.map((w) => w.close()));
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}
