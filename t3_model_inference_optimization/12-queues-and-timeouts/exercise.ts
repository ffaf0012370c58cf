/**
 * EXERCISE 12-queues-and-timeouts — keep a query's embedding fast while an ingest flood uses the same model.
 *
 * As shipped it is before.ts: one FIFO, unbounded, no deadlines, every submission run whole. Every request is
 * answered with its own outputs, so the checkpoint accepts the answers and rejects the rest: under an ingest flood a
 * query waits for the whole bulk backlog.
 *
 * `createQueue({ run, concurrency, maxQueued, maxBatch, retryAfterSeconds })` puts a queue in front of `run` (one
 * batch on the model → one output per item, in order; a model that runs at most `concurrency` batches at once).
 * `submit(items, { priority: 'interactive' | 'bulk', signal })` resolves with the items' outputs. Yours to decide:
 * the order work reaches the model, how much of it one run carries, when a submission is refused, and what happens
 * to a request whose signal fires.
 *
 * What must hold (checked by `npm run checkpoint -- 12-queues-and-timeouts`, with a fake model whose runs finish when
 * the test says, so everything is counted, nothing timed):
 *   - an interactive request overtakes every queued bulk run: only the run already in progress goes first;
 *   - no run carries more than `maxBatch[priority]` items (default 8; a 40-text bulk submission is 5 runs), and a run
 *     never mixes the two priorities;
 *   - at most `maxQueued[priority]` items wait per priority (running items do not count; defaults 64 and 512);
 *     a submission that does not fit is refused at once, whole, with a RagError 'OVERLOADED' that has a
 *     `retryAfterSeconds` ≥ 1 (`QueueFullError` in shared/model/inference-queue.ts is one); a full bulk queue never
 *     refuses an interactive request;
 *   - when a request's signal fires (a TimeoutError reason: `AbortSignal.timeout`), it rejects at once with a RagError
 *     'DEADLINE_EXCEEDED' (`QueueAbortError`), its waiting items leave the queue at once (`stats().queued` drops, the
 *     next request gets the slot) and never reach the model; items already running finish, their result is dropped;
 *   - every request is answered exactly once; a failed run rejects, with the model's error, exactly the requests
 *     that had items in it.
 *
 * Then measure interactive p99 under an ingest flood beside before and after:
 *   npm run t3 -- --only 12-queues-and-timeouts --impl exercise --quick
 * Stuck? npm run hint -- 12-queues-and-timeouts
 */
import type { Priority } from '../../shared/model/inference-queue.ts';

export type { Priority } from '../../shared/model/inference-queue.ts';

export interface QueueOptions<I, O> {
  /** Runs one batch on the model: one output per item, in order. */
  run: (items: I[], info: { priority: Priority }) => Promise<O[]>;
  /** Runs in progress at once. Default 1. */
  concurrency?: number;
  /** Most items waiting per priority (running ones not counted); beyond: 'OVERLOADED'. Default 64 / 512. */
  maxQueued?: Partial<Record<Priority, number>>;
  /** Most items per model run, per priority; bulk submissions are split to this. Default 8 / 8. */
  maxBatch?: Partial<Record<Priority, number>>;
  /** The least Retry-After a refusal carries, in seconds. Default 1. */
  retryAfterSeconds?: number;
}

export interface SubmitOptions {
  priority: Priority;
  /** The request's deadline or cancellation: when it fires, the request leaves the queue and rejects. */
  signal?: AbortSignal;
}

export interface ModelQueue<I, O> {
  submit(items: readonly I[], opts: SubmitOptions): Promise<O[]>;
  /** Items waiting now (not running), per priority. */
  stats(): { queued: Record<Priority, number> };
}

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
