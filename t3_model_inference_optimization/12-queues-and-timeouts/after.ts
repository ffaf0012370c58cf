/**
 * 12-queues-and-timeouts, after: two priorities, a bounded queue per priority that sheds when full, deadlines that
 * take an expired request out of the queue at once, and bulk work cut into small runs.
 *
 * The model (one onnxruntime session) runs one batch at a time. In front of it:
 *
 * - **a FIFO per priority**, interactive first: a run takes interactive work whenever some is waiting, so a query's
 *   embedding waits for the run in progress and the interactive requests ahead of it, never for the ingest backlog;
 * - **small runs**: every submission is cut into chunks of at most `maxBatch` items and a run carries at most that
 *   many, so the run an interactive request waits for is one bulk chunk (8 texts), not a 256-text ingest batch;
 * - **a bound per priority** (`maxQueued`, in items waiting): a submission that does not fit is refused at once
 *   with a RagError 'OVERLOADED' (HTTP 503) carrying `retryAfterSeconds`, so the backlog, and the wait of whoever is
 *   admitted, stays bounded. Separate bounds: a bulk flood fills the bulk queue, never the interactive one;
 * - **deadlines through `AbortSignal`** (the caller's, e.g. `AbortSignal.timeout(500)`): when it fires, the
 *   request's waiting chunks are unlinked from their list (O(1), a doubly linked list) and the promise rejects with
 *   'DEADLINE_EXCEEDED' (HTTP 504); its slots are free and the model never sees it. A chunk already running is not
 *   interrupted (an onnxruntime run cannot be); its result is dropped.
 *
 * This is the engine's queue: `InferenceQueue` in shared/model/inference-queue.ts (documented there with its
 * defaults: concurrency, per-priority timeouts, the Retry-After estimate, anti-starvation, close()).
 */
import { InferenceQueue, type Priority } from '../../shared/model/inference-queue.ts';

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
  /**
   * Resolves with one output per item, in order; rejects with RagError 'OVERLOADED' (+ `retryAfterSeconds`) when the
   * priority's queue is full, 'DEADLINE_EXCEEDED' when the signal fires with a TimeoutError (another reason:
   * 'ABORTED'), or the model's error when a run holding its items fails.
   */
  submit(items: readonly I[], opts: SubmitOptions): Promise<O[]>;
  /** Items waiting now (not running), per priority. */
  stats(): { queued: Record<Priority, number> };
}

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return new InferenceQueue<I, O>(opts);
}
