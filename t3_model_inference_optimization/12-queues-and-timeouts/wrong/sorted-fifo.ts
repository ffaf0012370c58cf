/**
 * Wrong (on purpose): one array, sorted on every push "by priority", that still serves in arrival order. The
 * comparator sorts by arrival number first and by priority only to break ties, and arrival numbers never tie: the
 * sort is a no-op, and an interactive request waits behind every bulk chunk queued before it, as in before.ts.
 * Bounds, splitting and deadlines are right.
 *
 * What differs from after.ts: one array for both priorities, ordered by (arrival, priority) instead of a FIFO per
 * priority served interactive first.
 *
 * @rejected-with queued bulk runs went ahead
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
  seq: number;
}

const RANK: Record<Priority, number> = { interactive: 0, bulk: 1 };

const size = (c: { start: number; end: number }) => c.end - c.start;

function deadlineError(priority: Priority, reason: unknown): QueueAbortError {
  const timeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new QueueAbortError(timeout ? 'DEADLINE_EXCEEDED' : 'ABORTED', `${priority} request: its deadline passed`, priority, 0, 0, reason);
}

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  const maxQueued = { interactive: 64, bulk: 512, ...opts.maxQueued };
  const maxBatch = { interactive: 8, bulk: 8, ...opts.maxBatch };
  const concurrency = opts.concurrency ?? 1;
  let queue: Chunk<I, O>[] = [];
  const waiting = (p: Priority) => queue.reduce((s, c) => s + (c.job.priority === p ? size(c) : 0), 0);
  let running = 0;
  let seq = 0;

  function drop(job: Job<I, O>): void {
    queue = queue.filter((c) => c.job !== job);
  }

  function next(): void {
    while (running < concurrency) {
      if (queue.length === 0) return;
      const p = queue[0].job.priority;
      const batch: Chunk<I, O>[] = [];
      let n = 0;
      while (queue.length > 0 && queue[0].job.priority === p && (n === 0 || n + size(queue[0]) <= maxBatch[p])) {
        const c = queue.shift()!;
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
        for (let start = 0; start < items.length; start += maxBatch[priority]) {
          queue.push({ job, start, end: Math.min(items.length, start + maxBatch[priority]), seq: seq++ });
          job.left++;
        }
        // keep arrival order within a priority
        queue.sort((a, b) => a.seq - b.seq || RANK[a.job.priority] - RANK[b.job.priority]);
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
