/**
 * One request, one call: the way a retrieval server is usually written first. Every caller's text goes to
 * `embedder.embed([text])` on its own, and every query vector makes its own full pass over the corpus matrix.
 *
 * `createBatcher` has the same signature as the micro-batcher in after.ts so the two can be swapped, but it never
 * waits and never groups: each `submit` runs `fn([item])` at once (a "batch" of one). `searchBatch` takes many queries
 * only to loop over them, one pass over all n rows per query.
 */
import { TopK } from '../../shared/util/topk.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import type { MatrixIndex } from './data.ts';

export type { MatrixIndex } from './data.ts';
export type Hit = ScoredLabel;

/** Runs one batch: one output per input, in the same order. May be sync or async. */
export type BatchFn<I, O> = (items: I[]) => O[] | Promise<O[]>;

export interface BatcherOptions {
  /** Flush when this many items are waiting. Default 32. (Ignored here: every item runs alone.) */
  maxItems?: number;
  /** Flush this long after the first item of a window arrived. Default 2 ms. (Ignored here.) */
  maxWaitMs?: number;
}

export interface Batcher<I, O> {
  /** Queue one item; resolves with its own output, or rejects with the error of the batch it ran in. */
  submit(item: I): Promise<O>;
  /** Run whatever is waiting now (nothing ever waits here). */
  flush(): void;
  /** Items waiting for their window to close (always 0 here). */
  readonly pending: number;
  /** Stop accepting items; resolves once every started batch has settled. */
  close(): Promise<void>;
}

export function createBatcher<I, O>(fn: BatchFn<I, O>, _opts: BatcherOptions = {}): Batcher<I, O> {
  let closed = false;
  const running = new Set<Promise<unknown>>();
  return {
    submit(item: I): Promise<O> {
      if (closed) return Promise.reject(new Error('batcher is closed'));
      const p = (async () => {
        const out = await fn([item]);
        if (!Array.isArray(out) || out.length !== 1) {
          throw new Error(`batch function returned ${Array.isArray(out) ? out.length : typeof out} results for 1 item`);
        }
        return out[0];
      })();
      const settled: Promise<boolean> = p.then(
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
  return queries.map((q) => searchOne(index, q, k));
}

function searchOne(index: MatrixIndex, query: Float32Array, k: number): Hit[] {
  const { n, dim, rows } = index;
  if (query.length !== dim) throw new RangeError(`searchBatch: query has ${query.length} dimensions, index has ${dim}`);
  if (n === 0) return [];
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
