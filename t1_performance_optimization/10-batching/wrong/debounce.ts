/**
 * Wrong (on purpose): the window's timer restarts with every item (a debounce), so a window closes maxWaitMs after its
 * LAST item. Under a steady trickle, one item every few ms, the first item waits until the window fills: the bound on
 * the added latency that maxWaitMs promises is gone.
 *
 * What differs from after.ts: submit, which restarts the window's timer on every item; searchBatch is after.ts's.
 * createBatcher keeps its window (items, callers, timer) in one closure that after.ts does not open up, so it is kept
 * here as a copy with that one branch of submit changed.
 *
 * @rejected-with its deadline moved when a later item arrived
 */
import type { BatchFn, Batcher, BatcherOptions } from '../after.ts';

export { searchBatch, type BatchFn, type Batcher, type BatcherOptions, type Hit, type MatrixIndex } from '../after.ts';

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
        else {
          // wait for the traffic to go quiet: every item restarts the window's timer
          if (timer !== undefined) clearTimeout(timer);
          timer = setTimeout(flush, maxWaitMs);
        }
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
