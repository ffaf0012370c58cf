/**
 * Wrong (on purpose): one bound for the whole queue (the larger of the two, so bulk keeps its room), checked
 * against all the items waiting. Priority, splitting and deadlines are right, but a bulk flood fills the shared room and then
 * interactive requests are shed while bulk items wait: the requests the bound was meant to protect are the ones
 * refused.
 *
 * What differs from after.ts: admission compares everything waiting with one shared bound instead of each
 * priority's waiting items with its own bound.
 *
 * @rejected-with shed while its own queue had 0 of 4 items waiting
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
      const bound = Math.max(maxQueued.interactive, maxQueued.bulk);
      if (waiting('interactive') + waiting('bulk') + items.length > bound) {
        return Promise.reject(new QueueFullError('OVERLOADED', `the ${priority} queue is full`, priority, opts.retryAfterSeconds ?? 1));
      }
      return new Promise<O[]>((resolve, reject) => {
        const job: Job<I, O> = { items: items.slice(), out: new Array<O>(items.length), left: 0, priority, done: false, resolve, reject };
        for (let start = 0; start < items.length; start += maxBatch[priority]) {
          queues[priority].push({ job, start, end: Math.min(items.length, start + maxBatch[priority]) });
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
