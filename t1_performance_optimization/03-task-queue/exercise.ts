/**
 * EXERCISE 03-task-queue — move ingestion out of the request into a BullMQ queue. Check with:
 * npm run checkpoint -- 03-task-queue   (needs Redis: REDIS_URL, default redis://127.0.0.1:6379)
 *
 * The plumbing is done for you: the API process, the queue, the workers, `drain`, `close`. Three parts are missing
 * (search for TODO):
 *
 * 1. in `startApi`, the job options: retry a failing job (`ref.attempts` tries in all) with exponential backoff
 *    starting at `ref.backoffMs`;
 * 2. in `startApi`, the request handler: enqueue the validated document and answer 202 right away;
 * 3. in the worker's processor: index the document with an UPSERT keyed by document id, so that a job that runs
 *    twice (a worker died after writing, the stalled-job check re-queued it) leaves exactly one copy.
 *
 * The solution is in after.ts; try first.
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
      // TODO(1): retry failed jobs: `ref.attempts` tries in all, exponential backoff starting at `ref.backoffMs` ms.
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
      // TODO(2): add the document to the queue as an 'ingest' job and answer 202 { id: doc.id, jobId: job.id }
      //          without waiting for the work.
      void doc;
      throw new Error('TODO(03-task-queue, step 2): enqueue the document and answer 202');
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
  const { engine } = opts;
  const hooks = opts.hooks ?? {};
  const attempts = opts.attempts ?? 5;
  const ref: QueueRef = { redisUrl: redisUrl(opts), name: uniqueQueueName(), attempts, backoffMs: opts.backoffMs ?? 50 };
  const connection = redisConnection(ref.redisUrl);
  const writes = new Map<string, number>();

  // This side only watches the queue (drain) and removes it (close); the API process adds the jobs.
  const queue = new Queue<Doc>(ref.name, { connection, prefix: PREFIX });
  queue.on('error', () => {});

  async function handleJob(job: Job<Doc>, worker: Worker<Doc>): Promise<{ chunks: number }> {
    const doc = job.data;
    const attempt = job.attemptsMade + 1;
    if (hooks.failAttempt?.(doc.id, attempt)) throw new TransientError(doc.id, attempt);
    // TODO(3): chunk → embed → index the document as an upsert by id (`engine.ingest([doc])` replaces a document
    //          with the same id), then count the write: writes.set(doc.id, (writes.get(doc.id) ?? 0) + 1).
    const result: { chunks: number } = await Promise.reject(
      new Error('TODO(03-task-queue, step 3): index the job\'s document in the worker (upsert by id)'),
    );
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
  await Promise.all([queue.waitUntilReady(), ...workers.map((w) => w.waitUntilReady())]);
  const api = await spawnApi(import.meta.url, ref);

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
        const list = failed.map((j) => `${j.data.id}: ${j.failedReason}`).join('; ');
        throw new Error(`drain: ${failed.length} document(s) failed after ${attempts} attempts: ${list}`);
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
