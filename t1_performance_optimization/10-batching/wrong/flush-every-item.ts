/**
 * Wrong (on purpose): every submitted item closes its window at once, so no request ever waits, and every call of the
 * batch function carries one item. The batcher's machinery is all there, but nothing is ever batched: one embed call
 * and one matrix pass per request, exactly like before.ts.
 *
 * What differs from after.ts: submit, which flushes after every item; the rest of createBatcher, and searchBatch, are
 * after.ts's.
 *
 * @rejected-with 4 items submitted together ran as 4 calls
 */
import { createBatcher as createWindowedBatcher, type BatchFn, type Batcher, type BatcherOptions } from '../after.ts';

export { searchBatch, type BatchFn, type Batcher, type BatcherOptions, type Hit, type MatrixIndex } from '../after.ts';

export function createBatcher<I, O>(fn: BatchFn<I, O>, opts: BatcherOptions = {}): Batcher<I, O> {
  const batcher = createWindowedBatcher(fn, opts);
  return {
    submit(item: I): Promise<O> {
      const out = batcher.submit(item);
      batcher.flush(); // run at once: nobody waits
      return out;
    },
    flush: batcher.flush,
    get pending() {
      return batcher.pending;
    },
    close: batcher.close,
  };
}
