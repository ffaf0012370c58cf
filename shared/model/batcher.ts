/**
 * Dynamic batching for a model server: many callers with one text each, few model runs.
 *
 * `DynamicBatcher` wraps an async `runBatch(items) → rows` (one padded `session.run` for a list of token-id lists,
 * say) and gives every caller `embed(item, { signal })` → its own row. Waiting items are kept in **length buckets**
 * (items of similar token count), and a batch is formed from one bucket, so a 9-token text is not padded to 128:
 *
 *   - a batch holds at most `maxBatch` items and at most `maxTokens` **padded** tokens (items × the longest item's
 *     length, what a padded run really computes: Hugging Face text-embeddings-inference's `--max-batch-tokens`);
 *     an item longer than the budget runs alone;
 *   - a batch starts when a run slot is free (`maxInFlight`, default 1: one session runs one batch at a time) and
 *     either its bucket can fill a batch, or the oldest waiting item has waited `maxWaitMs` (the time a lone item
 *     waits for company; its bucket goes first, so no item waits behind a stream of fuller buckets), or the batcher
 *     is closing. While a batch runs, new items queue and form the next batches, so under load the batches grow by
 *     themselves and `maxWaitMs` matters only when the server is idle;
 *   - every caller is resolved with the row of its own item (rows are routed by the item, never by a position in
 *     a sorted list), or rejected with the error of its own batch: a failing run rejects exactly its callers;
 *   - a request whose `signal` aborts while it waits is removed (its place in a batch goes to the next item) and
 *     rejects with an `AbortError`; one that aborts while its batch runs rejects at once, and its row is dropped;
 *   - `close()` stops taking requests, runs everything that waits without waiting for company, and resolves once
 *     every batch has settled.
 *
 * Tokenising stays outside: an item is a token-id list (its `length` counts), an object with `tokens` (a count or a
 * list), or anything `tokensOf` measures.
 *
 * Example (a session from shared/model/session.ts; tokenFeeds pads to the longest):
 *
 *     const batcher = new DynamicBatcher(async (lists: number[][]) => {
 *       const out = await session.run(tokenFeeds(lists));
 *       const y = out[session.outputNames[0]].data as Float32Array;
 *       const dim = y.length / lists.length;
 *       return lists.map((_, i) => y.slice(i * dim, (i + 1) * dim));
 *     }, { maxBatch: 32, maxWaitMs: 2, maxTokens: 4096 });
 *     const row = await batcher.embed([101, 2054, 2003, 102], { signal: AbortSignal.timeout(100) });
 *     await batcher.close();
 *     batcher.stats; // { batches: 1, items: 1, realTokens: 4, paddedTokens: 4, aborted: 0, failedBatches: 0 }
 *
 * T3 lesson 08 (t3_model_inference_optimization/08-batching/) measures it against one `session.run` per request.
 */
import { RagError } from '../errors.ts';

/** An item the batcher can measure without help: a token-id list, or an object carrying its tokens or their count. */
export type TokenItem = ArrayLike<number> | { readonly tokens: number | ArrayLike<number> };

/** Runs one batch: one output per item, in the items' order. May be sync or async. */
export type RunBatch<I, O> = (items: I[]) => O[] | Promise<O[]>;

/**
 * Length buckets used by default: an item goes to the first bucket whose bound is ≥ its token count (beyond the last
 * bound, one more bucket). Neighbouring bounds differ by at most 1.5× (×2 only from 8 to 16), so a batch of one bucket
 * pads each item by less than half its length, about a sixth on average for lengths spread across a bucket.
 */
export const DEFAULT_BUCKETS: readonly number[] = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

export interface DynamicBatcherOptions<I> {
  /** Most items in one batch. Default 32. */
  maxBatch?: number;
  /**
   * How long the oldest waiting item may wait for company before its batch starts anyway, in ms. Default 2. Only an
   * idle server waits this long: while a batch runs, items queue for the next one regardless. `Infinity` waits for a
   * full batch (an offline bulk job that ends with `close()`; never for requests, or a lone one waits for ever).
   */
  maxWaitMs?: number;
  /**
   * Most padded tokens in one batch: items × the longest item's token count (an empty item counts 1). Default 16,384
   * (text-embeddings-inference's default `--max-batch-tokens`). An item longer than this runs alone.
   */
  maxTokens?: number;
  /**
   * Upper bounds of the length buckets, ascending; items are batched only with items of their own bucket. `false`
   * puts every item in one first-in-first-out queue (each batch padded to its longest item). Default
   * `DEFAULT_BUCKETS`.
   */
  buckets?: readonly number[] | false;
  /** Batches running at once. Default 1 (one session runs one batch at a time; onnxruntime-node's run blocks the thread). */
  maxInFlight?: number;
  /** An item's token count. Default: `item.tokens` (a count or a list's length), else `item.length`. */
  tokensOf?: (item: I) => number;
  /** The clock, in ms. Default `performance.now()` (read at every call, so fake timers in tests replace it). */
  now?: () => number;
}

export interface EmbedOptions {
  /** Abort the request: while it waits it is removed; while its batch runs, it rejects at once and its row is dropped. */
  signal?: AbortSignal;
}

/** What the batcher has done so far (counters only grow). */
export interface BatcherStats {
  /** Batches started (calls of `runBatch`). */
  batches: number;
  /** Items in those batches. */
  items: number;
  /** Their token counts summed (an empty item counts 1). */
  realTokens: number;
  /** Items × longest item, summed over batches: what the padded runs computed. */
  paddedTokens: number;
  /** Requests aborted (while waiting or while their batch ran). */
  aborted: number;
  /** Batches whose `runBatch` threw, rejected or returned the wrong number of outputs. */
  failedBatches: number;
}

type EntryState = 'waiting' | 'running' | 'settled';

interface Entry<I, O> {
  item: I;
  /** Token count for padding and budget (≥ 1). */
  len: number;
  bucket: number;
  at: number;
  state: EntryState;
  resolve: (row: O) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** The error an aborted request rejects with (`name` 'AbortError'; `cause` is the signal's reason). */
export function abortError(signal: AbortSignal, message: string): DOMException {
  return new DOMException(message, { name: 'AbortError', cause: signal.reason });
}

/** Token count of a `TokenItem`: `tokens` (a count, or a list's length), else `length`; RagError otherwise. */
export function tokenCount(item: unknown): number {
  if (typeof item === 'object' && item !== null) {
    if ('tokens' in item) {
      const t = (item as { tokens: unknown }).tokens;
      if (typeof t === 'number') return t;
      if (typeof t === 'object' && t !== null && typeof (t as ArrayLike<number>).length === 'number') return (t as ArrayLike<number>).length;
    }
    if (typeof (item as ArrayLike<number>).length === 'number') return (item as ArrayLike<number>).length;
  }
  throw new RagError('INVALID_INPUT', 'DynamicBatcher: an item must be a token-id list or have `tokens` (pass tokensOf for other items)');
}

export class DynamicBatcher<I, O> {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxTokens: number;
  readonly maxInFlight: number;
  /** Bucket upper bounds (empty: one FIFO queue). */
  readonly buckets: readonly number[];
  readonly stats: BatcherStats = { batches: 0, items: 0, realTokens: 0, paddedTokens: 0, aborted: 0, failedBatches: 0 };

  private readonly runBatch: RunBatch<I, O>;
  private readonly tokensOf: (item: I) => number;
  private readonly now: () => number;
  /** One queue per bucket, each in arrival order. */
  private readonly queues: Entry<I, O>[][];
  private waiting = 0;
  private running = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private pumpQueued = false;
  private closing = false;
  private drainWaiters: Array<() => void> = [];

  constructor(runBatch: RunBatch<I, O>, opts: DynamicBatcherOptions<I> = {}) {
    this.runBatch = runBatch;
    this.maxBatch = opts.maxBatch ?? 32;
    this.maxWaitMs = opts.maxWaitMs ?? 2;
    this.maxTokens = opts.maxTokens ?? 16_384;
    this.maxInFlight = opts.maxInFlight ?? 1;
    this.tokensOf = opts.tokensOf ?? (tokenCount as (item: I) => number);
    this.now = opts.now ?? (() => performance.now());
    const buckets = opts.buckets === undefined ? DEFAULT_BUCKETS : opts.buckets === false ? [] : opts.buckets;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new RagError('INVALID_INPUT', `DynamicBatcher: maxBatch must be an integer ≥ 1, got ${this.maxBatch}`);
    if (!(this.maxWaitMs >= 0)) throw new RagError('INVALID_INPUT', `DynamicBatcher: maxWaitMs must be ≥ 0 (Infinity allowed), got ${this.maxWaitMs}`);
    if (!(this.maxTokens >= 1)) throw new RagError('INVALID_INPUT', `DynamicBatcher: maxTokens must be ≥ 1, got ${this.maxTokens}`);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new RagError('INVALID_INPUT', `DynamicBatcher: maxInFlight must be an integer ≥ 1, got ${this.maxInFlight}`);
    for (let i = 0; i < buckets.length; i++) {
      if (!(buckets[i] >= 1) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
        throw new RagError('INVALID_INPUT', `DynamicBatcher: buckets must be ascending bounds ≥ 1, got [${buckets.join(', ')}]`);
      }
    }
    this.buckets = [...buckets];
    this.queues = Array.from({ length: this.buckets.length + 1 }, () => []);
  }

  /** Items waiting for a batch. */
  get pending(): number {
    return this.waiting;
  }

  /** Batches running now. */
  get inFlight(): number {
    return this.running;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.closing;
  }

  /** Queue one item; resolves with its own output, or rejects with its batch's error or an AbortError. */
  embed(item: I, opts: EmbedOptions = {}): Promise<O> {
    if (this.closing) return Promise.reject(new RagError('UNAVAILABLE', 'DynamicBatcher: closed, no new requests'));
    const { signal } = opts;
    if (signal?.aborted) {
      this.stats.aborted++;
      return Promise.reject(abortError(signal, 'the request was aborted before it was queued'));
    }
    let tokens: number;
    try {
      tokens = this.tokensOf(item);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!Number.isInteger(tokens) || tokens < 0) {
      return Promise.reject(new RagError('INVALID_INPUT', `DynamicBatcher: an item's token count must be an integer ≥ 0, got ${tokens}`));
    }
    return new Promise<O>((resolve, reject) => {
      const len = Math.max(1, tokens);
      const entry: Entry<I, O> = { item, len, bucket: this.bucketOf(len), at: this.now(), state: 'waiting', resolve, reject, signal };
      if (signal) {
        entry.onAbort = () => this.abort(entry);
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.queues[entry.bucket].push(entry);
      this.waiting++;
      this.schedulePump();
    });
  }

  /** Stop taking requests, run everything waiting (without waiting for company), resolve when every batch settled. */
  close(): Promise<void> {
    this.closing = true;
    this.schedulePump();
    return this.whenIdle();
  }

  private whenIdle(): Promise<void> {
    if (this.waiting === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private bucketOf(len: number): number {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && len > b[i]) i++;
    return i;
  }

  private abort(entry: Entry<I, O>): void {
    if (entry.state === 'settled') return;
    this.stats.aborted++;
    if (entry.state === 'waiting') {
      const q = this.queues[entry.bucket];
      q.splice(q.indexOf(entry), 1);
      this.waiting--;
      this.settle(entry);
      entry.reject(abortError(entry.signal!, 'the request was aborted while it waited for a batch'));
      this.schedulePump(); // the oldest item (and with it the timer) may have changed
      this.checkIdle();
    } else {
      this.settle(entry);
      entry.reject(abortError(entry.signal!, 'the request was aborted while its batch ran (its row is dropped)'));
    }
  }

  private settle(entry: Entry<I, O>): void {
    entry.state = 'settled';
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
  }

  /** Decide once per tick, so a burst of requests made in one tick is seen whole. */
  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /**
   * The items a batch from bucket `b` would take, in arrival order: up to maxBatch, while items × longest ≤ maxTokens
   * (the first item always), and whether the batch is full (nothing more could join it).
   */
  private form(b: number): { take: number; longest: number; full: boolean } {
    const q = this.queues[b];
    let take = 0;
    let longest = 0;
    while (take < q.length && take < this.maxBatch) {
      const l = Math.max(longest, q[take].len);
      if (take > 0 && l * (take + 1) > this.maxTokens) break;
      longest = l;
      take++;
    }
    const full = take === this.maxBatch || take < q.length || longest * (take + 1) > this.maxTokens;
    return { take, longest, full };
  }

  /** The bucket to run next, or -1: the oldest item's bucket once it is due (or closing), else a bucket that is full. */
  private choose(now: number): number {
    let oldest = -1;
    for (let b = 0; b < this.queues.length; b++) {
      const q = this.queues[b];
      if (q.length > 0 && (oldest < 0 || q[0].at < this.queues[oldest][0].at)) oldest = b;
    }
    if (oldest < 0) return -1;
    if (this.closing || now - this.queues[oldest][0].at >= this.maxWaitMs) return oldest;
    let pick = -1;
    for (let b = 0; b < this.queues.length; b++) {
      const q = this.queues[b];
      if (q.length > 0 && this.form(b).full && (pick < 0 || q[0].at < this.queues[pick][0].at)) pick = b;
    }
    return pick;
  }

  /** Start what may start. `at`: the timer's due time, so a timer firing a hair early still finds its item due. */
  private pump(at = -Infinity): void {
    const now = Math.max(this.now(), at);
    while (this.running < this.maxInFlight && this.waiting > 0) {
      const b = this.choose(now);
      if (b < 0) break;
      const { take, longest } = this.form(b);
      this.start(this.queues[b].splice(0, take), longest);
    }
    this.armTimer(now);
    this.checkIdle();
  }

  /** One timer, for when the oldest waiting item becomes due; none while every run slot is busy (a settle pumps). */
  private armTimer(now: number): void {
    let due = Infinity;
    if (this.waiting > 0 && this.running < this.maxInFlight && Number.isFinite(this.maxWaitMs)) {
      for (const q of this.queues) if (q.length > 0) due = Math.min(due, q[0].at + this.maxWaitMs);
    }
    if (due === this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = due;
    if (due === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump(due);
    }, Math.max(0, due - now));
  }

  private start(batch: Entry<I, O>[], longest: number): void {
    this.waiting -= batch.length;
    this.running++;
    const s = this.stats;
    s.batches++;
    s.items += batch.length;
    s.paddedTokens += batch.length * longest;
    for (const e of batch) {
      e.state = 'running';
      s.realTokens += e.len;
    }
    void this.run(batch);
  }

  /** Run one batch and route output i to the caller of item i. Never rejects: failures go to the batch's callers. */
  private async run(batch: Entry<I, O>[]): Promise<void> {
    let rows: O[] | undefined;
    let error: unknown;
    try {
      rows = await this.runBatch(batch.map((e) => e.item));
      if (!Array.isArray(rows) || rows.length !== batch.length) {
        throw new Error(`DynamicBatcher: runBatch returned ${Array.isArray(rows) ? rows.length : typeof rows} outputs for ${batch.length} items`);
      }
    } catch (err) {
      error = err;
      this.stats.failedBatches++;
    }
    this.running--;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i];
      if (e.state !== 'running') continue; // aborted while the batch ran
      this.settle(e);
      if (error === undefined) e.resolve(rows![i]);
      else e.reject(error);
    }
    // next tick, not now: a caller that sends its next request as soon as it has its row joins the next batch
    this.schedulePump();
  }

  private checkIdle(): void {
    if (this.waiting === 0 && this.running === 0 && this.drainWaiters.length > 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }
}
