/**
 * A plain queue in front of the model, written the way a first admission queue usually is (arrays, `shift`, `filter`),
 * with each of the lesson's four decisions left as a switch. It is not the lesson's answer (after.ts puts
 * shared/model/inference-queue.ts behind the interface); the wrong solutions in wrong/ are this queue with one
 * switch in its wrong position, so each differs from a right queue in exactly the idea it names.
 *
 * With every switch right (`RIGHT`) it keeps the lesson's contract: interactive chunks before bulk ones, submissions
 * cut into runs of ≤ maxBatch, a bound per priority, and an abort that takes the request out of the queue at once.
 */
import { QueueAbortError, QueueFullError } from '../../shared/model/inference-queue.ts';
import type { ModelQueue, Priority, QueueOptions, SubmitOptions } from './after.ts';

export interface ArrayQueuePolicy {
  /** 'priority': a list per priority, interactive served first; 'arrival': whichever chunk came first. */
  order: 'priority' | 'arrival';
  /** 'per-priority': each priority's waiting items against its own bound; 'shared': all against the larger bound. */
  bound: 'per-priority' | 'shared';
  /** Cut a submission into chunks of at most maxBatch items (true), or queue it whole. */
  split: boolean;
  /**
   * What the caller's signal does: 'unlink' takes the request out of the queue when it fires; 'race' rejects the
   * caller's promise and leaves the request queued (the model still runs it); 'at-dequeue' reads `signal.aborted`
   * only when the request reaches the front.
   */
  abort: 'unlink' | 'race' | 'at-dequeue';
}

export const RIGHT: ArrayQueuePolicy = { order: 'priority', bound: 'per-priority', split: true, abort: 'unlink' };

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
  /** Arrival number, across both priorities. */
  seq: number;
}

const size = (c: { start: number; end: number }) => c.end - c.start;

function deadlineError(priority: Priority, reason: unknown): QueueAbortError {
  const timeout = reason instanceof Error && reason.name === 'TimeoutError';
  return new QueueAbortError(timeout ? 'DEADLINE_EXCEEDED' : 'ABORTED', `${priority} request: its deadline passed`, priority, 0, 0, reason);
}

export function createArrayQueue<I, O>(opts: QueueOptions<I, O>, policy: ArrayQueuePolicy): ModelQueue<I, O> {
  const maxQueued = { interactive: 64, bulk: 512, ...opts.maxQueued };
  const maxBatch = { interactive: 8, bulk: 8, ...opts.maxBatch };
  const concurrency = opts.concurrency ?? 1;
  const queues: Record<Priority, Chunk<I, O>[]> = { interactive: [], bulk: [] };
  const waiting = (p: Priority) => queues[p].reduce((s, c) => s + size(c), 0);
  let running = 0;
  let seq = 0;

  function drop(job: Job<I, O>): void {
    queues[job.priority] = queues[job.priority].filter((c) => c.job !== job);
  }

  /** The priority whose head chunk runs next, or undefined when nothing waits. */
  function pick(): Priority | undefined {
    const [i, b] = [queues.interactive[0], queues.bulk[0]];
    if (!i || !b) return i ? 'interactive' : b ? 'bulk' : undefined;
    return policy.order === 'priority' || i.seq < b.seq ? 'interactive' : 'bulk';
  }

  /** In arrival order a run stops at a chunk of the other priority that came earlier. */
  function nextInOrder(p: Priority): boolean {
    if (policy.order === 'priority') return true;
    const other = queues[p === 'interactive' ? 'bulk' : 'interactive'][0];
    return !other || queues[p][0].seq < other.seq;
  }

  function next(): void {
    while (running < concurrency) {
      const p = pick();
      if (!p) return;
      const batch: Chunk<I, O>[] = [];
      let n = 0;
      while (queues[p].length > 0 && (n === 0 || (n + size(queues[p][0]) <= maxBatch[p] && nextInOrder(p)))) {
        const c = queues[p].shift()!;
        if (c.job.done) continue;
        if (policy.abort === 'at-dequeue' && c.job.signal?.aborted) {
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
      const full =
        policy.bound === 'shared'
          ? waiting('interactive') + waiting('bulk') + items.length > Math.max(maxQueued.interactive, maxQueued.bulk)
          : waiting(priority) + items.length > maxQueued[priority];
      if (full) return Promise.reject(new QueueFullError('OVERLOADED', `the ${priority} queue is full`, priority, opts.retryAfterSeconds ?? 1));
      const work = new Promise<O[]>((resolve, reject) => {
        const job: Job<I, O> = { items: items.slice(), signal, out: new Array<O>(items.length), left: 0, priority, done: false, resolve, reject };
        const step = policy.split ? maxBatch[priority] : Math.max(1, items.length);
        for (let start = 0; start < items.length; start += step) {
          queues[priority].push({ job, start, end: Math.min(items.length, start + step), seq: seq++ });
          job.left++;
        }
        if (job.left === 0) resolve([]);
        if (policy.abort === 'unlink') {
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
        }
        next();
      });
      if (policy.abort !== 'race' || !signal) return work;
      const deadline = new Promise<never>((_, reject) => {
        signal.addEventListener('abort', () => reject(deadlineError(priority, signal.reason)), { once: true });
      });
      work.catch(() => {}); // its failure after the deadline is nobody's news
      return Promise.race([work, deadline]);
    },
    stats() {
      return { queued: { interactive: waiting('interactive'), bulk: waiting('bulk') } };
    },
  };
}
