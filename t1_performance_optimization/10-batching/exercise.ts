/**
 * EXERCISE 10-batching — serve many concurrent requests with few calls, without changing a single answer.
 *
 * As shipped it is correct and one-at-a-time: `createBatcher` runs every submitted item at once as its own call of
 * the batch function (a batch of one), and `searchBatch` answers its queries one after another, each with its own
 * pass over the whole corpus matrix. Under load that is one embed call and one matrix pass per request.
 *
 * What must hold (checked by `npm run checkpoint -- 10-batching`):
 *   - every caller gets its own output (output i of a call belongs to item i of that call), and no item is lost;
 *   - items that arrive together share one call of the batch function, never more than `maxItems` per call;
 *   - no item waits longer than `maxWaitMs` (measured from the first item of its window) for its call to start, and
 *     a window that is not full stays open until then, unless `flush()` or `close()` closes it;
 *   - when a call throws, rejects or returns the wrong number of outputs, every caller of that call is rejected with
 *     an Error, callers of other calls are not, and the batcher keeps serving; `close()` runs what is waiting and
 *     then refuses new items;
 *   - `searchBatch` gives every query exactly the hits of a one-query pass (the same labels, bit-identical scores),
 *     and the queries of one call share the matrix: reading all of it once per query is what batching should remove.
 *
 * The checkpoint rejects, in these terms: items submitted together that run as one call each; a window that never
 * fills and waits for more items instead of closing on time; a window whose deadline moves each time an item
 * arrives; a searchBatch that reads the whole matrix once per query of the batch.
 *
 * Measure yours beside before and after (throughput with 48 concurrent clients, and the latency the window adds):
 *   npm run t1 -- --only 10-batching --impl exercise --quick
 * Stuck? npm run hint -- 10-batching
 */
import { TopK } from '../../shared/util/topk.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import type { MatrixIndex } from './data.ts';

export type { MatrixIndex } from './data.ts';
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

export function createBatcher<I, O>(fn: BatchFn<I, O>, opts: BatcherOptions = {}): Batcher<I, O> {
  const maxItems = opts.maxItems ?? 32;
  const maxWaitMs = opts.maxWaitMs ?? 2;
  if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`createBatcher: maxItems must be an integer ≥ 1, got ${maxItems}`);
  if (!(Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) throw new RangeError(`createBatcher: maxWaitMs must be ≥ 0, got ${maxWaitMs}`);

  let closed = false;
  const running = new Set<Promise<unknown>>();

  /** One call of `fn` for one item; its output, or the error of that call. */
  async function runAlone(item: I): Promise<O> {
    const out = await fn([item]);
    if (!Array.isArray(out) || out.length !== 1) {
      throw new Error(`batch function returned ${Array.isArray(out) ? out.length : typeof out} results for 1 item`);
    }
    return out[0];
  }

  return {
    submit(item: I): Promise<O> {
      if (closed) return Promise.reject(new Error('batcher is closed'));
      const p = runAlone(item);
      const settled: Promise<unknown> = p.then(
        () => running.delete(settled),
        () => running.delete(settled),
      );
      running.add(settled);
      return p;
    },
    flush() {},
    get pending() {
      return 0;
    },
    async close() {
      closed = true;
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
  return queries.map((q) => searchOne(index, q, k));
}

/** One query: a pass over all n rows, a dot product with each, the best k kept. */
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

/** The query at unit length, in float64 (a zero vector stays zero). */
function unit(v: Float32Array): Float64Array {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j] * v[j];
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  const q = new Float64Array(v.length);
  for (let j = 0; j < v.length; j++) q[j] = v[j] * inv;
  return q;
}
