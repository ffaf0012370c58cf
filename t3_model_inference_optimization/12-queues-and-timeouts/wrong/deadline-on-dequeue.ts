/**
 * Wrong (on purpose): the deadline is checked when a chunk reaches the front of the queue, not when it passes. An
 * expired request is skipped then (the model never runs it), but until then it sits in the queue holding its slots:
 * under load the queue fills with requests nobody waits for, and new ones are shed while it does. Its caller also
 * hears nothing until its turn comes.
 *
 * What differs from after.ts: no 'abort' listener; `signal.aborted` is read at dequeue.
 *
 * @rejected-with expired requests still hold
 */
import { QueueAbortError, QueueFullError } from '../../../shared/model/inference-queue.ts';
import type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

interface Job<I, O> {
  items: I[];
  signal?: AbortSignal;
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
        if (c.job.done) continue;
        if (c.job.signal?.aborted) {
          // expired while it waited: skip it (and the rest of its chunks)
          c.job.done = true;
          drop(c.job);
          c.job.reject(deadlineError(c.job.priority, c.job.signal.reason));
          continue;
        }
        batch.push(c);
        n += size(c);
      }
      if (batch.length === 0) continue;
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
        const job: Job<I, O> = { items: items.slice(), signal, out: new Array<O>(items.length), left: 0, priority, done: false, resolve, reject };
        for (let start = 0; start < items.length; start += maxBatch[priority]) {
          queues[priority].push({ job, start, end: Math.min(items.length, start + maxBatch[priority]) });
          job.left++;
        }
        if (job.left === 0) resolve([]);
        next();
      });
    },
    stats() {
      return { queued: { interactive: waiting('interactive'), bulk: waiting('bulk') } };
    },
  };
}
