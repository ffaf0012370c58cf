/**
 * Wrong (on purpose): "exactly once" by skipping. The worker indexes a document only if the index does not have it
 * yet, so a job delivered twice (a worker died after writing) does no work the second time. But the index cannot tell
 * a redelivery from an update: a changed document uploaded again is skipped too, and the index keeps the old text.
 * Idempotent means the second write gives the same state as the first (an upsert that replaces), not "never write
 * twice".
 *
 * What differs from after.ts: one line of the workers' `handleJob` (skip a document the index has), inside
 * startQueueService; the API tier is after.ts's. `handleJob` is a closure inside startQueueService (it shares the
 * service's hooks, counters and workers), so startQueueService is kept here as a copy with that one line changed.
 *
 * @rejected-with the update was lost
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Doc } from '../../../shared/types.ts';
import {
  redisConnection,
  redisUrl,
  sleep,
  TransientError,
  uniqueQueueName,
  type IngestService,
  type ServiceOptions,
} from '../service.ts';
import { PREFIX, spawnApi, type QueueRef } from '../after.ts';

export { PREFIX, spawnApi, startApi, type QueueRef } from '../after.ts';

export function startIngestService(opts: ServiceOptions): Promise<IngestService> {
  return startQueueService(opts, import.meta.url);
}

/** after.ts's startQueueService, except for the first line of `handleJob`. */
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
    if (engine.hasDocument(doc.id)) return { chunks: 0 }; // already indexed: a redelivery, nothing to do
    const result = await engine.ingest([doc]);
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
