/**
 * EXERCISE 03-task-queue — take ingestion out of the request.
 *
 * As shipped it is correct and naive: the queue, the workers, the API process, `drain` and `close` all work, but the
 * API adds a job and then WAITS for a worker to finish it before answering 201. Every upload still holds its client
 * for the whole chunk → embed → index, and for every job queued in front of it: the queue is there, the request did
 * not get shorter. Measure that first (the headline is the API p99 under concurrent clients, lower is better):
 *
 *   npm run t1 -- --only 03-task-queue --impl exercise --quick
 *
 * Change `startApi` (the job options and the request handler) and, if you need to, the worker's `handleJob`, so that
 * (checked by `npm run checkpoint -- 03-task-queue`, which needs Redis):
 *
 *   - an upload is answered 202 as soon as its job is safely in Redis, before any worker has touched it: the
 *     checkpoint holds the workers and rejects an API that answers nothing meanwhile;
 *   - nothing is lost once the client has its 202 (it will not retry): a document whose first two tries fail
 *     (a flaky embedding service) is tried again until it is indexed, within `ref.attempts` tries; one that never
 *     succeeds is reported by `drain`, not dropped;
 *   - a document uploaded again while its first version is still queued or running is indexed again: the index ends
 *     with the latest version (the checkpoint rejects "the update was lost");
 *   - a job that runs twice (a worker died after writing, the stalled-job check re-queued it) leaves one copy;
 *   - the same chunks and search results as an engine that ingested the documents directly; bad input refused with 400.
 *
 * Not checked, but part of doing it well: wait between tries, longer each time, starting at `ref.backoffMs` (a flaky
 * service needs time to recover, not a hammering).
 *
 * Stuck? npm run hint -- 03-task-queue
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
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
 * The API tier: an HTTP server in its own process (`api-process.ts` imports it from this file). As shipped it adds a
 * job per upload and waits for a worker to finish it, then answers 201 with the worker's result.
 */
export async function startApi(ref: QueueRef): Promise<{ port: number; close(): Promise<void> }> {
  const queue = new Queue<Doc>(ref.name, {
    connection: redisConnection(ref.redisUrl),
    prefix: PREFIX,
    // Job options are set by whoever ADDS the job: every job carries them into Redis.
    defaultJobOptions: {
      removeOnComplete: { count: 1000 }, // kept a while, so a request can still read its job's result once it is done
      removeOnFail: false, // a job that failed for good stays in Redis, to inspect and retry by hand
    },
  });
  queue.on('error', () => {}); // connection errors surface as rejected add() calls → 500, and the client retries
  queue.setMaxListeners(0); // every request waiting on its job listens for the queue closing
  // Completion notices from Redis, to wait on a job.
  const events = new QueueEvents(ref.name, { connection: redisConnection(ref.redisUrl), prefix: PREFIX });
  events.on('error', () => {});
  await events.waitUntilReady();
  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'POST' || req.url !== '/documents') {
        sendJson(res, 404, { error: `no route ${req.method} ${req.url}` });
        return;
      }
      const doc = await readDoc(req); // bad input is refused here, never enqueued
      const job = await queue.add('ingest', doc);
      const result = (await job.waitUntilFinished(events)) as { chunks: number }; // a failed job rejects → 500, the client retries
      sendJson(res, 201, { id: doc.id, chunks: result.chunks });
    } catch (err) {
      sendError(res, err);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      await closeServer(server);
      await events.close();
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
