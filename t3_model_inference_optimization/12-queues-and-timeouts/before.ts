/**
 * 12-queues-and-timeouts, before: one FIFO in front of the model, unbounded, no deadlines.
 *
 * The way a model queue is first written: every submission, a one-text query or a 256-text ingest batch, goes to the
 * back of one array and runs whole when its turn comes. Under an ingest flood a query waits for every bulk batch
 * queued before it (its p99 is the whole bulk backlog), the array grows without bound, and a caller that gave up
 * long ago still gets its texts run. `priority` and `signal` are accepted and ignored.
 */
import type { ModelQueue, Priority, QueueOptions, SubmitOptions } from './after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from './after.ts';

interface Job<I, O> {
  items: I[];
  priority: Priority;
  resolve: (out: O[]) => void;
  reject: (err: unknown) => void;
}

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  const fifo: Job<I, O>[] = [];
  const concurrency = opts.concurrency ?? 1;
  let running = 0;

  function next(): void {
    while (running < concurrency && fifo.length > 0) {
      const job = fifo.shift()!;
      running++;
      opts
        .run(job.items, { priority: job.priority })
        .then(job.resolve, job.reject)
        .finally(() => {
          running--;
          next();
        });
    }
  }

  return {
    submit(items: readonly I[], { priority }: SubmitOptions): Promise<O[]> {
      return new Promise((resolve, reject) => {
        fifo.push({ items: items.slice(), priority, resolve, reject });
        next();
      });
    },
    stats() {
      const queued = { interactive: 0, bulk: 0 };
      for (const j of fifo) queued[j.priority] += j.items.length;
      return { queued };
    },
  };
}
