/**
 * Wrong (on purpose): the window closes only when it holds maxItems items. There is no timer, so a window that does
 * not fill waits for more traffic: at low load a lone request waits until enough others happen to arrive, or forever.
 * Under a steady burst it looks perfect, which is why it survives a benchmark.
 *
 * What differs from after.ts: the window has no timer (submit sets none, flush clears none); searchBatch is
 * after.ts's. createBatcher keeps its window (items, callers, timer) in one closure that after.ts does not open up, so
 * it is kept here as a copy without the timer.
 *
 * @rejected-with a lone request was still waiting
 */
import type { BatchFn, Batcher, BatcherOptions } from '../after.ts';

export { searchBatch, type BatchFn, type Batcher, type BatcherOptions, type Hit, type MatrixIndex } from '../after.ts';

interface Waiter<O> {
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export function createBatcher<I, O>(fn: BatchFn<I, O>, opts: BatcherOptions = {}): Batcher<I, O> {
  const maxItems = opts.maxItems ?? 32;
  const maxWaitMs = opts.maxWaitMs ?? 2; // validated, never used
  if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`createBatcher: maxItems must be an integer ≥ 1, got ${maxItems}`);
  if (!(Number.isFinite(maxWaitMs) && maxWaitMs >= 0)) throw new RangeError(`createBatcher: maxWaitMs must be ≥ 0, got ${maxWaitMs}`);

  let items: I[] = [];
  let waiters: Waiter<O>[] = [];
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
        if (items.length >= maxItems) flush(); // a window closes only when it is full
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
