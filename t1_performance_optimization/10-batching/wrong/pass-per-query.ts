/**
 * Wrong (on purpose): a correct micro-batcher in front of a batch function that does not share anything. searchBatch
 * receives 32 queries at once and still walks the whole corpus matrix once per query, so the batch saves a few
 * promises and nothing else: the matrix passes, which are nearly all of the work, stay one per request.
 *
 * @rejected-with read the whole matrix 8 times for a batch of 8 queries
 */
import { TopK } from '../../../shared/util/topk.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import type { MatrixIndex } from '../data.ts';

export type { MatrixIndex } from '../data.ts';
export type Hit = ScoredLabel;

/** Runs one batch: one output per input, in the same order. May be sync or async. */
export type BatchFn<I, O> = (items: I[]) => O[] | Promise<O[]>;

export interface BatcherOptions {
  /** Flush when this many items are waiting (1 = no batching). Default 32. */
  maxItems?: number;
  /** Flush this long after the first item of a window arrived, even if the window is not full. Default 2 ms. */
  maxWaitMs?: number;
}

export interface Batcher<I, O> {
  /** Queue one item; resolves with its own output, or rejects with the error of the batch it ran in. */
  submit(item: I): Promise<O>;
  /** Close the current window now and run it (no-op when nothing waits). */
  flush(): void;
  /** Items waiting for their window to close. */
  readonly pending: number;
  /** Run what is waiting, stop accepting items; resolves once every started batch has settled. */
  close(): Promise<void>;
}

interface Waiter<O> {
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export function createBatcher<I, O>(fn: BatchFn<I, O>, opts: BatcherOptions = {}): Batcher<I, O> {
  const maxItems = opts.maxItems ?? 32;
  const maxWaitMs = opts.maxWaitMs ?? 2;
  if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`createBatcher: maxItems must be an integer ≥ 1, got ${maxItems}`);
  if (!(Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) throw new RangeError(`createBatcher: maxWaitMs must be ≥ 0, got ${maxWaitMs}`);

  let items: I[] = [];
  let waiters: Waiter<O>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const running = new Set<Promise<void>>();

  /** Run one batch and route output i to caller i. Never rejects: failures go to the batch's callers. */
  async function run(batch: I[], callers: Waiter<O>[]): Promise<void> {
    let out: O[];
    try {
      out = await fn(batch);
      if (!Array.isArray(out) || out.length !== batch.length) {
        throw new Error(`batch function returned ${Array.isArray(out) ? out.length : typeof out} results for ${batch.length} items`);
      }
    } catch (err) {
      for (const c of callers) c.reject(err);
      return;
    }
    for (let i = 0; i < callers.length; i++) callers[i].resolve(out[i]);
  }

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (items.length === 0) return;
    const batch = items;
    const callers = waiters;
    items = [];
    waiters = [];
    const p = run(batch, callers);
    running.add(p);
    void p.then(() => running.delete(p));
  }

  return {
    submit(item: I): Promise<O> {
      if (closed) return Promise.reject(new Error('batcher is closed'));
      return new Promise<O>((resolve, reject) => {
        items.push(item);
        waiters.push({ resolve, reject });
        if (items.length >= maxItems) flush();
        else if (timer === undefined) timer = setTimeout(flush, maxWaitMs);
      });
    },
    flush,
    get pending() {
      return items.length;
    },
    async close() {
      closed = true;
      flush();
      await Promise.all([...running]);
    },
  };
}

/** The k rows most similar to each query (cosine: rows are unit length), best first; ties: lower label first. */
export function searchBatch(index: MatrixIndex, queries: Float32Array[], k: number): Hit[][] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`searchBatch: k must be a positive integer, got ${k}`);
  const { n, dim } = index;
  for (const q of queries) {
    if (q.length !== dim) throw new RangeError(`searchBatch: query has ${q.length} dimensions, index has ${dim}`);
  }
  if (n === 0) return queries.map(() => []);
  // the batch arrives together, and each query still gets its own pass over the matrix
  return queries.map((q) => searchOne(index, q, k));
}

function searchOne(index: MatrixIndex, query: Float32Array, k: number): Hit[] {
  const { n, dim, rows } = index;
  const q = unit(query);
  const top = new TopK(Math.min(k, n));
  for (let i = 0, off = 0; i < n; i++, off += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += rows[off + j] * q[j];
    top.push(i, s);
  }
  return top.drain();
}

function unit(v: Float32Array): Float64Array {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j] * v[j];
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  const q = new Float64Array(v.length);
  for (let j = 0; j < v.length; j++) q[j] = v[j] * inv;
  return q;
}
