/**
 * Wrong (on purpose): every submitted item closes its window at once, so no request ever waits, and every call of the
 * batch function carries one item. The batcher's machinery is all there, but nothing is ever batched: one embed call
 * and one matrix pass per request, exactly like before.ts.
 *
 * @rejected-with 4 items submitted together ran as 4 calls
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
        flush(); // run at once: nobody waits
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

/** Rows per tile: 512 rows × 100 dims × 4 bytes = 200 KB, which stays in L2 while every query block visits it. */
const TILE = 512;

/** The k rows most similar to each query (cosine: rows are unit length), best first; ties: lower label first. */
export function searchBatch(index: MatrixIndex, queries: Float32Array[], k: number): Hit[][] {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`searchBatch: k must be a positive integer, got ${k}`);
  const { n, dim, rows } = index;
  for (const q of queries) {
    if (q.length !== dim) throw new RangeError(`searchBatch: query has ${q.length} dimensions, index has ${dim}`);
  }
  if (n === 0) return queries.map(() => []);
  const qs = queries.map(unit);
  const tops = qs.map(() => new TopK(Math.min(k, n)));
  const scores = new Float64Array(4 * TILE);
  const B = qs.length;
  for (let from = 0; from < n; from += TILE) {
    const to = Math.min(n, from + TILE);
    const len = to - from;
    let b = 0;
    for (; b + 4 <= B; b += 4) {
      score4(rows, dim, from, to, qs[b], qs[b + 1], qs[b + 2], qs[b + 3], scores);
      for (let g = 0; g < 4; g++) {
        const top = tops[b + g];
        const base = g * TILE;
        for (let i = 0; i < len; i++) top.push(from + i, scores[base + i]);
      }
    }
    for (; b < B; b++) {
      score1(rows, dim, from, to, qs[b], scores);
      const top = tops[b];
      for (let i = 0; i < len; i++) top.push(from + i, scores[i]);
    }
  }
  return tops.map((t) => t.drain());
}

/** Scores rows [from, to) against 4 queries at once: each row value is loaded once and used 4 times. */
function score4(
  rows: Float32Array,
  dim: number,
  from: number,
  to: number,
  q0: Float64Array,
  q1: Float64Array,
  q2: Float64Array,
  q3: Float64Array,
  out: Float64Array,
): void {
  for (let i = from, off = from * dim, o = 0; i < to; i++, off += dim, o++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < dim; j++) {
      const x = rows[off + j];
      s0 += x * q0[j];
      s1 += x * q1[j];
      s2 += x * q2[j];
      s3 += x * q3[j];
    }
    out[o] = s0;
    out[TILE + o] = s1;
    out[2 * TILE + o] = s2;
    out[3 * TILE + o] = s3;
  }
}

/** The leftover queries (batch size not a multiple of 4): same summation order, so the same scores. */
function score1(rows: Float32Array, dim: number, from: number, to: number, q: Float64Array, out: Float64Array): void {
  for (let i = from, off = from * dim, o = 0; i < to; i++, off += dim, o++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += rows[off + j] * q[j];
    out[o] = s;
  }
}

function unit(v: Float32Array): Float64Array {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j] * v[j];
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  const q = new Float64Array(v.length);
  for (let j = 0; j < v.length; j++) q[j] = v[j] * inv;
  return q;
}
