/**
 * Wrong (on purpose): priorities, bounds and deadlines are right, but a submission runs whole: a 256-text ingest
 * batch is one model run. An interactive request that arrives just after it starts waits for all 256 texts (with
 * MiniLM on one core, seconds), so the priority only decides who goes next, not how long "next" takes.
 *
 * What differs from after.ts: no split into chunks of maxBatch items.
 *
 * @rejected-with a bulk run of 40 items
 */
import { QueueAbortError, QueueFullError } from '../../../shared/model/inference-queue.ts';
import type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

interface Job<I, O> {
  items: I[];
  out: O[];
  left: number;
  priority: Priority;
  done: boolean;
  resolve: (out: O[]) => void;
  reject: (err: unknown) => void;
}

interface Chunk<I, O> {
  job: Job<I, O>;
  start: number;
  end: number;
}

const size = (c: { start: number; end: number }) => c.end - c.start;

function deadlineError(priority: Priority, reason: unknown): QueueAbortError {
  const timeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new QueueAbortError(timeout ? 'DEADLINE_EXCEEDED' : 'ABORTED', `${priority} request: its deadline passed`, priority, 0, 0, reason);
}

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  const maxQueued = { interactive: 64, bulk: 512, ...opts.maxQueued };
  const maxBatch = { interactive: 8, bulk: 8, ...opts.maxBatch };
  const concurrency = opts.concurrency ?? 1;
  const queues: Record<Priority, Chunk<I, O>[]> = { interactive: [], bulk: [] };
  const waiting = (p: Priority) => queues[p].reduce((s, c) => s + size(c), 0);
  let running = 0;

  function drop(job: Job<I, O>): void {
    queues[job.priority] = queues[job.priority].filter((c) => c.job !== job);
  }

  function next(): void {
    while (running < concurrency) {
      const p: Priority | undefined = queues.interactive.length > 0 ? 'interactive' : queues.bulk.length > 0 ? 'bulk' : undefined;
      if (!p) return;
      const batch: Chunk<I, O>[] = [];
      let n = 0;
      while (queues[p].length > 0 && (n === 0 || n + size(queues[p][0]) <= maxBatch[p])) {
        const c = queues[p].shift()!;
        batch.push(c);
        n += size(c);
      }
      running++;
      const items = batch.flatMap((c) => c.job.items.slice(c.start, c.end));
      opts
        .run(items, { priority: p })
        .then(
          (out) => {
            let at = 0;
            for (const c of batch) {
              const job = c.job;
              if (!job.done) {
                for (let i = c.start; i < c.end; i++) job.out[i] = out[at + i - c.start];
                if (--job.left === 0) {
                  job.done = true;
                  job.resolve(job.out);
                }
              }
              at += size(c);
            }
          },
          (err: unknown) => {
            for (const c of batch) {
              if (c.job.done) continue;
              c.job.done = true;
              drop(c.job);
              c.job.reject(err);
            }
          },
        )
        .finally(() => {
          running--;
          next();
        });
    }
  }

  return {
    submit(items: readonly I[], { priority, signal }: SubmitOptions): Promise<O[]> {
      if (signal?.aborted) return Promise.reject(deadlineError(priority, signal.reason));
      if (waiting(priority) + items.length > maxQueued[priority]) {
        return Promise.reject(new QueueFullError('OVERLOADED', `the ${priority} queue is full`, priority, opts.retryAfterSeconds ?? 1));
      }
      return new Promise<O[]>((resolve, reject) => {
        const job: Job<I, O> = { items: items.slice(), out: new Array<O>(items.length), left: 0, priority, done: false, resolve, reject };
        if (items.length > 0) {
          queues[priority].push({ job, start: 0, end: items.length });
          job.left++;
        }
        if (job.left === 0) resolve([]);
        signal?.addEventListener(
          'abort',
          () => {
            if (job.done) return;
            job.done = true;
            drop(job);
            reject(deadlineError(priority, signal.reason));
          },
          { once: true },
        );
        next();
      });
    },
    stats() {
      return { queued: { interactive: waiting('interactive'), bulk: waiting('bulk') } };
    },
  };
}
