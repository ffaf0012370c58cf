/**
 * The model-side admission queue: what stands between the engine's callers and a model that can run only one (or a
 * few) batches at a time (an onnxruntime session, `OnnxEmbedder`). T3 lesson 12 (queues and timeouts) builds it.
 *
 * Two priorities share the model:
 *
 *     interactive   a query's embedding: someone is waiting for it (small, latency-bound)
 *     bulk          ingest batches: throughput-bound, fine to wait, fine to refuse and retry later
 *
 * What it guarantees:
 *
 * - **Priority.** A run takes interactive work whenever some is waiting (strict priority; `bulkEvery` gives bulk a
 *   guaranteed share if starving ingest under a saturated interactive stream is not acceptable).
 * - **Bounded head-of-line blocking.** Every submission is cut into chunks of at most `maxBatch[priority]` items and
 *   one run is at most that many items, so an interactive request arriving behind a 1,000-text ingest batch waits for
 *   at most the one bulk run in progress (per `concurrency` slot), not for the batch. Waiting chunks of one priority
 *   are coalesced into one run up to `maxBatch` (dynamic batching within a priority; runs never mix priorities).
 * - **Bounded queues, per priority.** At most `maxQueued[priority]` items wait (running ones are not counted). A
 *   submission that does not fit is refused at once, whole, with `QueueFullError` (code 'OVERLOADED', HTTP 503 with
 *   `Retry-After: retryAfterSeconds`; see `queueErrorStatus`). Each priority has its own bound, so a bulk flood can
 *   never take the slots interactive requests need.
 * - **Deadlines.** A submission carries an `AbortSignal` (the caller's: a client that went away, or
 *   `AbortSignal.timeout(ms)`) and/or `timeoutMs`. When it fires while chunks are waiting, they are unlinked from the
 *   queue at once (their slots free for the next request, the model never sees them) and the promise rejects with
 *   `QueueAbortError` ('DEADLINE_EXCEEDED' → 504, or 'ABORTED' for any other abort reason). A chunk already running
 *   is not interrupted (an onnxruntime run cannot be), its result is dropped.
 * - **Exactly one answer.** Every submission settles once: its outputs in order, or the first error of a run that
 *   held one of its chunks (only the submissions in that run are rejected), or its shed / abort / shutdown error.
 *
 * Usage (the engine's ONNX path; `session` from `openSession`, token-id lists from the tokenizer):
 *
 *     const queue = new InferenceQueue<number[], Float32Array>({
 *       run: async (lists) => rowsOf(await session.run(tokenFeeds(lists))),
 *       maxQueued: { interactive: 64, bulk: 512 },
 *     });
 *     const [row] = await queue.submit([ids], { priority: 'interactive', signal: AbortSignal.timeout(500) });
 *     const rows = await queue.submit(chunkIds, { priority: 'bulk' });   // split into runs of ≤ 8
 *
 * HTTP: `queueErrorStatus(err)` gives the status and headers for its errors (503 + Retry-After when shed or shutting
 * down, 504 on a deadline), in line with `shared/serve/load-shedding.ts` (503 + Retry-After) and
 * `shared/serve/deadline.ts` (504). The HTTP deadline (`withDeadline`) only races the work; passing the same deadline
 * down as `signal` is what takes an expired request out of this queue.
 */
import { RagError } from '../errors.ts';

export type Priority = 'interactive' | 'bulk';
export const PRIORITIES: readonly Priority[] = ['interactive', 'bulk'];

/** What `run` is told about the batch it gets. */
export interface RunInfo {
  priority: Priority;
}

export interface InferenceQueueOptions<I, O> {
  /**
   * Runs one batch on the model and returns one output per item, in order (a wrong count fails the run with
   * 'MODEL_FAILED'). A rejection rejects exactly the submissions that had items in this batch. Required.
   */
  run: (items: I[], info: RunInfo) => Promise<O[]>;
  /** Runs in progress at once (one onnxruntime session runs one at a time; more only with more sessions). Default 1. */
  concurrency?: number;
  /**
   * Most items waiting per priority (running items are not counted); a submission that would exceed it is refused
   * with 'OVERLOADED'. Size it as deadline × drain rate: a request further back would time out anyway. A single
   * submission larger than its bound is refused with 'INVALID_INPUT' (it could never be admitted: split it).
   * Default { interactive: 64, bulk: 512 }.
   */
  maxQueued?: Partial<Record<Priority, number>>;
  /**
   * Most items in one run, per priority: the bulk figure bounds how long an interactive request can wait behind a
   * bulk run already in progress. Default { interactive: 8, bulk: 8 }.
   */
  maxBatch?: Partial<Record<Priority, number>>;
  /**
   * A deadline in ms from submission applied to every submission of that priority (with the caller's `signal`
   * when both are given: the first to fire wins); 0 = none. A backstop: the caller's own deadline, passed as
   * `signal`, is the normal way. Default { interactive: 5000, bulk: 0 }.
   */
  timeoutMs?: Partial<Record<Priority, number>>;
  /**
   * The least Retry-After (seconds) a refusal carries; the hint grows with the backlog ahead (waiting items × the
   * measured time per item ÷ concurrency), capped at 60. Default 1 (as the HTTP layer's `retryAfterSeconds`).
   */
  retryAfterSeconds?: number;
  /**
   * Anti-starvation: after this many consecutive interactive runs while bulk work waits, the next run is bulk.
   * 0 = strict priority (bulk waits as long as interactive work is queued). Default 0.
   */
  bulkEvery?: number;
}

export interface SubmitOptions {
  priority: Priority;
  /** Aborting it takes the submission's waiting chunks out of the queue and rejects it (see `QueueAbortError`). */
  signal?: AbortSignal;
  /** Overrides the priority's `timeoutMs` for this submission (0 = none; a timer cleared once it settles). */
  timeoutMs?: number;
}

type PerPriority = Record<Priority, number>;

/** Counters and gauges, for metrics and tests. Items, unless the name says runs. */
export interface InferenceQueueStats {
  /** Items waiting now, per priority. */
  queued: PerPriority;
  /** The most items that ever waited at once, per priority. */
  queuedPeak: PerPriority;
  /** Runs in progress now. */
  running: number;
  /** Runs started, per priority, and the items they carried. */
  runs: PerPriority;
  itemsRun: PerPriority;
  /** Submissions: accepted, answered, refused for a full queue, past their deadline, aborted otherwise, failed. */
  accepted: PerPriority;
  completed: PerPriority;
  shed: PerPriority;
  timedOut: PerPriority;
  aborted: PerPriority;
  failed: PerPriority;
}

/** Refused: the priority's queue is full (or the queue is shutting down). HTTP 503 with `Retry-After`. */
export class QueueFullError extends RagError {
  constructor(
    code: 'OVERLOADED' | 'SHUTTING_DOWN',
    message: string,
    readonly priority: Priority,
    /** When to try again, in whole seconds: the `Retry-After` header. */
    readonly retryAfterSeconds: number,
  ) {
    super(code, message);
    this.name = 'QueueFullError';
  }
}

/** The submission's signal fired before it was answered. 'DEADLINE_EXCEEDED' (a TimeoutError reason) → 504. */
export class QueueAbortError extends RagError {
  constructor(
    code: 'DEADLINE_EXCEEDED' | 'ABORTED',
    message: string,
    readonly priority: Priority,
    /** ms from submission to the abort. */
    readonly waitedMs: number,
    /** Chunks that had already reached the model (their results are dropped). */
    readonly chunksRunning: number,
    readonly reason: unknown,
  ) {
    super(code, message);
    this.name = 'QueueAbortError';
  }
}

/**
 * The HTTP answer for this module's errors, or undefined for any other error: 'OVERLOADED' and 'SHUTTING_DOWN' →
 * 503 + `Retry-After`, 'DEADLINE_EXCEEDED' → 504, 'ABORTED' → 499 (the client went away; nobody reads it). For the
 * HTTP layer's error handler (`shared/serve/http-errors.ts` maps other RagError codes to 500).
 */
export function queueErrorStatus(err: unknown): { status: number; headers: Record<string, string> } | undefined {
  if (err instanceof QueueFullError) return { status: 503, headers: { 'retry-after': String(err.retryAfterSeconds) } };
  if (err instanceof QueueAbortError) return { status: err.code === 'DEADLINE_EXCEEDED' ? 504 : 499, headers: {} };
  return undefined;
}

const DEFAULTS = {
  concurrency: 1,
  maxQueued: { interactive: 64, bulk: 512 } as PerPriority,
  maxBatch: { interactive: 8, bulk: 8 } as PerPriority,
  timeoutMs: { interactive: 5000, bulk: 0 } as PerPriority,
  retryAfterSeconds: 1,
  bulkEvery: 0,
};
const MAX_RETRY_AFTER_S = 60;

/** One `submit` call. */
interface Job<I, O> {
  priority: Priority;
  items: I[];
  out: O[];
  /** Chunks not yet answered (waiting or running). */
  left: number;
  /** Chunks still linked in the queue. */
  waiting: Set<Chunk<I, O>>;
  running: number;
  settled: boolean;
  since: number;
  resolve: (out: O[]) => void;
  reject: (err: unknown) => void;
  /** Removes the abort listener. */
  detach: () => void;
}

/** A slice [start, end) of a job's items: one queue entry, a node of its priority's doubly linked list. */
interface Chunk<I, O> {
  job: Job<I, O>;
  start: number;
  end: number;
  prev: Chunk<I, O> | undefined;
  next: Chunk<I, O> | undefined;
}

/** A FIFO of chunks with O(1) push, shift and unlink anywhere (an expired request leaves at once). */
class ChunkList<I, O> {
  head: Chunk<I, O> | undefined;
  tail: Chunk<I, O> | undefined;
  items = 0;

  push(c: Chunk<I, O>): void {
    c.prev = this.tail;
    c.next = undefined;
    if (this.tail) this.tail.next = c;
    else this.head = c;
    this.tail = c;
    this.items += c.end - c.start;
  }

  unlink(c: Chunk<I, O>): void {
    if (c.prev) c.prev.next = c.next;
    else this.head = c.next;
    if (c.next) c.next.prev = c.prev;
    else this.tail = c.prev;
    c.prev = c.next = undefined;
    this.items -= c.end - c.start;
  }
}

/** An abort reason that means "deadline": what `AbortSignal.timeout` fires with (a DOMException 'TimeoutError'). */
function isTimeout(reason: unknown): boolean {
  return reason instanceof Error && reason.name === 'TimeoutError';
}

function positiveInt(name: string, v: number, allowZero = false): number {
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new RagError('INVALID_INPUT', `InferenceQueue: ${name} must be an integer ≥ ${allowZero ? 0 : 1}, got ${v}`);
  }
  return v;
}

export class InferenceQueue<I, O> {
  private readonly run: InferenceQueueOptions<I, O>['run'];
  private readonly concurrency: number;
  private readonly maxQueued: PerPriority;
  private readonly maxBatch: PerPriority;
  private readonly timeoutMs: PerPriority;
  private readonly retryAfterFloor: number;
  private readonly bulkEvery: number;
  private readonly lists: Record<Priority, ChunkList<I, O>> = { interactive: new ChunkList(), bulk: new ChunkList() };
  private readonly counters = {
    queuedPeak: { interactive: 0, bulk: 0 },
    runs: { interactive: 0, bulk: 0 },
    itemsRun: { interactive: 0, bulk: 0 },
    accepted: { interactive: 0, bulk: 0 },
    completed: { interactive: 0, bulk: 0 },
    shed: { interactive: 0, bulk: 0 },
    timedOut: { interactive: 0, bulk: 0 },
    aborted: { interactive: 0, bulk: 0 },
    failed: { interactive: 0, bulk: 0 },
  };
  private running = 0;
  private pumpScheduled = false;
  private interactiveStreak = 0;
  /** Exponentially weighted ms per item of recent runs (for the Retry-After hint); 0 until the first run. */
  private msPerItem = 0;
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: InferenceQueueOptions<I, O>) {
    if (typeof opts?.run !== 'function') throw new RagError('INVALID_INPUT', 'InferenceQueue: run must be a function');
    this.run = opts.run;
    this.concurrency = positiveInt('concurrency', opts.concurrency ?? DEFAULTS.concurrency);
    const per = (name: string, given: Partial<PerPriority> | undefined, def: PerPriority, zero: boolean): PerPriority => ({
      interactive: positiveInt(`${name}.interactive`, given?.interactive ?? def.interactive, zero),
      bulk: positiveInt(`${name}.bulk`, given?.bulk ?? def.bulk, zero),
    });
    this.maxQueued = per('maxQueued', opts.maxQueued, DEFAULTS.maxQueued, false);
    this.maxBatch = per('maxBatch', opts.maxBatch, DEFAULTS.maxBatch, false);
    this.timeoutMs = per('timeoutMs', opts.timeoutMs, DEFAULTS.timeoutMs, true);
    this.retryAfterFloor = positiveInt('retryAfterSeconds', opts.retryAfterSeconds ?? DEFAULTS.retryAfterSeconds);
    this.bulkEvery = positiveInt('bulkEvery', opts.bulkEvery ?? DEFAULTS.bulkEvery, true);
  }

  /**
   * Queues `items` at `priority`; resolves with one output per item, in order. Rejects with `QueueFullError` when
   * the priority's queue has no room for all of them (nothing is queued then), with `QueueAbortError` when the signal
   * or timeout fires first, or with the model's error when a run holding some of its items fails.
   */
  submit(items: readonly I[], opts: SubmitOptions): Promise<O[]> {
    const { priority } = opts;
    if (priority !== 'interactive' && priority !== 'bulk') {
      return Promise.reject(new RagError('INVALID_INPUT', `InferenceQueue: priority must be 'interactive' or 'bulk', got ${String(priority)}`));
    }
    if (this.closing) {
      return Promise.reject(new QueueFullError('SHUTTING_DOWN', `the model queue is shutting down; retry on another instance`, priority, this.retryAfterFloor));
    }
    const { signal } = opts;
    if (signal?.aborted) {
      (isTimeout(signal.reason) ? this.counters.timedOut : this.counters.aborted)[priority]++;
      return Promise.reject(this.abortError(priority, signal.reason, 0, 0));
    }
    if (items.length === 0) return Promise.resolve([]);
    const bound = this.maxQueued[priority];
    if (items.length > bound) {
      return Promise.reject(new RagError('INVALID_INPUT', `a ${priority} submission of ${items.length} items can never fit its queue (bound ${bound} items): split it`));
    }
    const list = this.lists[priority];
    if (list.items + items.length > bound) {
      this.counters.shed[priority]++;
      const retry = this.retryAfter(priority);
      return Promise.reject(
        new QueueFullError('OVERLOADED', `the ${priority} model queue is full (${list.items} of ${bound} items waiting, ${items.length} more asked); retry in ${retry} s`, priority, retry),
      );
    }
    const timeout = opts.timeoutMs ?? this.timeoutMs[priority];
    if (!Number.isFinite(timeout) || timeout < 0) {
      return Promise.reject(new RagError('INVALID_INPUT', `InferenceQueue: timeoutMs must be a number ≥ 0, got ${timeout}`));
    }

    return new Promise<O[]>((resolve, reject) => {
      const job: Job<I, O> = {
        priority,
        items: items.slice(),
        out: new Array<O>(items.length),
        left: 0,
        waiting: new Set(),
        running: 0,
        settled: false,
        since: performance.now(),
        resolve,
        reject,
        detach: () => {},
      };
      const size = this.maxBatch[priority];
      for (let start = 0; start < items.length; start += size) {
        const chunk: Chunk<I, O> = { job, start, end: Math.min(items.length, start + size), prev: undefined, next: undefined };
        list.push(chunk);
        job.waiting.add(chunk);
        job.left++;
      }
      this.counters.accepted[priority]++;
      if (list.items > this.counters.queuedPeak[priority]) this.counters.queuedPeak[priority] = list.items;
      // The caller's signal and the backstop timer are watched separately (not AbortSignal.any: on Node 20-22 a
      // long-lived caller signal keeps every signal combined with it alive, nodejs/node#55351), and both are let go
      // as soon as the submission settles.
      const onAbort = signal ? () => this.abort(job, signal.reason) : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      const timer =
        timeout > 0 ? setTimeout(() => this.abort(job, new DOMException(`deadline of ${timeout} ms passed`, 'TimeoutError')), timeout).unref() : undefined;
      job.detach = () => {
        if (signal && onAbort) signal.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
      };
      this.schedulePump();
    });
  }

  /** Counters and gauges (a fresh object). */
  stats(): InferenceQueueStats {
    const c = this.counters;
    const copy = (r: PerPriority): PerPriority => ({ ...r });
    return {
      queued: { interactive: this.lists.interactive.items, bulk: this.lists.bulk.items },
      queuedPeak: copy(c.queuedPeak),
      running: this.running,
      runs: copy(c.runs),
      itemsRun: copy(c.itemsRun),
      accepted: copy(c.accepted),
      completed: copy(c.completed),
      shed: copy(c.shed),
      timedOut: copy(c.timedOut),
      aborted: copy(c.aborted),
      failed: copy(c.failed),
    };
  }

  /**
   * Stops admitting (new submissions get 'SHUTTING_DOWN', 503). With `drain` (default) the waiting work still runs;
   * without, waiting submissions are rejected with 'SHUTTING_DOWN' at once. Resolves when no run is in progress and
   * nothing waits.
   */
  close(opts: { drain?: boolean } = {}): Promise<void> {
    this.closing = true;
    if (opts.drain === false) {
      for (const p of PRIORITIES) {
        for (let c = this.lists[p].head; c; c = this.lists[p].head) {
          this.fail(c.job, new QueueFullError('SHUTTING_DOWN', 'the model queue shut down before this request ran', p, this.retryAfterFloor));
        }
      }
    }
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private idle(): boolean {
    return this.running === 0 && this.lists.interactive.items === 0 && this.lists.bulk.items === 0;
  }

  /** Seconds until the backlog ahead of a new `priority` submission has likely drained (at least the floor). */
  private retryAfter(priority: Priority): number {
    const ahead = this.lists.interactive.items + (priority === 'bulk' ? this.lists.bulk.items : 0);
    const s = Math.ceil((ahead * this.msPerItem) / this.concurrency / 1000);
    return Math.min(MAX_RETRY_AFTER_S, Math.max(this.retryAfterFloor, s));
  }

  private abortError(priority: Priority, reason: unknown, waitedMs: number, running: number): QueueAbortError {
    const timeout = isTimeout(reason);
    const what = timeout ? 'its deadline passed' : `it was aborted (${reason instanceof Error ? reason.message : String(reason)})`;
    const where = running > 0 ? `; ${running} of its runs were already on the model and their results are dropped` : ' before it reached the model';
    return new QueueAbortError(timeout ? 'DEADLINE_EXCEEDED' : 'ABORTED', `${priority} request: ${what} after ${Math.round(waitedMs)} ms${where}`, priority, waitedMs, running, reason);
  }

  private abort(job: Job<I, O>, reason: unknown): void {
    if (job.settled) return;
    const err = this.abortError(job.priority, reason, performance.now() - job.since, job.running);
    (isTimeout(reason) ? this.counters.timedOut : this.counters.aborted)[job.priority]++;
    this.settle(job, err);
  }

  private fail(job: Job<I, O>, err: unknown): void {
    if (job.settled) return;
    this.counters.failed[job.priority]++;
    this.settle(job, err);
  }

  /** Rejects `job`, unlinking its waiting chunks (their slots are free at once). */
  private settle(job: Job<I, O>, err: unknown): void {
    job.settled = true;
    job.detach();
    for (const c of job.waiting) this.lists[job.priority].unlink(c);
    job.waiting.clear();
    job.reject(err);
    this.checkIdle();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // a microtask, so the submissions of one tick are all queued (and can share a run) before the next run starts
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Which priority the next run serves, or undefined when nothing waits. */
  private nextPriority(): Priority | undefined {
    const hasI = this.lists.interactive.head !== undefined;
    const hasB = this.lists.bulk.head !== undefined;
    if (!hasI) return hasB ? 'bulk' : undefined;
    if (hasB && this.bulkEvery > 0 && this.interactiveStreak >= this.bulkEvery) return 'bulk';
    return 'interactive';
  }

  private pump(): void {
    while (this.running < this.concurrency) {
      const priority = this.nextPriority();
      if (!priority) break;
      // consecutive interactive runs while bulk work waits (what bulkEvery limits)
      this.interactiveStreak = priority === 'interactive' && this.lists.bulk.head ? this.interactiveStreak + 1 : 0;
      const list = this.lists[priority];
      const limit = this.maxBatch[priority];
      const batch: Chunk<I, O>[] = [];
      let n = 0;
      // coalesce waiting chunks of this priority, in order, up to maxBatch items (the first always fits)
      while (list.head && (n === 0 || n + (list.head.end - list.head.start) <= limit)) {
        const c = list.head;
        list.unlink(c);
        c.job.waiting.delete(c);
        c.job.running++;
        batch.push(c);
        n += c.end - c.start;
      }
      this.startRun(priority, batch, n);
    }
    this.checkIdle();
  }

  private startRun(priority: Priority, batch: Chunk<I, O>[], n: number): void {
    const items: I[] = [];
    for (const c of batch) for (let i = c.start; i < c.end; i++) items.push(c.job.items[i]);
    this.running++;
    this.counters.runs[priority]++;
    this.counters.itemsRun[priority] += n;
    const t0 = performance.now();
    let result: Promise<O[]>;
    try {
      result = Promise.resolve(this.run(items, { priority }));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (out) => {
        if (!Array.isArray(out) || out.length !== n) {
          const got = Array.isArray(out) ? `${out.length} outputs` : typeof out;
          this.finishRun(batch, undefined, new RagError('MODEL_FAILED', `the model returned ${got} for a batch of ${n} items`));
          return;
        }
        const ms = (performance.now() - t0) / n;
        this.msPerItem = this.msPerItem === 0 ? ms : 0.8 * this.msPerItem + 0.2 * ms;
        this.finishRun(batch, out, undefined);
      },
      (err: unknown) => this.finishRun(batch, undefined, err),
    );
  }

  private finishRun(batch: Chunk<I, O>[], out: O[] | undefined, err: unknown): void {
    this.running--;
    let at = 0;
    for (const c of batch) {
      const job = c.job;
      job.running--;
      const len = c.end - c.start;
      if (!job.settled) {
        if (out === undefined) {
          this.fail(job, err);
        } else {
          for (let i = 0; i < len; i++) job.out[c.start + i] = out[at + i];
          if (--job.left === 0) {
            job.settled = true;
            job.detach();
            this.counters.completed[job.priority]++;
            job.resolve(job.out);
          }
        }
      }
      at += len;
    }
    this.pump();
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
