/**
 * EXERCISE 02-async-io — overlap the waiting, with a bound. Check with: npm run checkpoint -- 02-async-io
 *
 * before.ts embeds one file after another: n files cost n round trips of ~20 ms each. Two TODOs:
 *
 * 1. `embedAll`: run at most `concurrency` `embedFile` calls at once with p-limit (`const limit = pLimit(c)`,
 *    `limit(() => embedFile(file, client))`), keep the input order with `Promise.all`, and `limit.clearQueue()` in a
 *    `finally` so nothing new starts after an error.
 * 2. `embedStream`: a window of at most `concurrency` promises, started in input order: fill it, then repeatedly
 *    await the head (`window.shift()`), refill, and yield the head. Attach `p.catch(() => {})` to each promise you
 *    start, so a failure is reported when it reaches the head, not as an unhandled rejection.
 *
 * The checkpoint's service counts the calls in flight: it must never see more than `concurrency`, and must see more
 * than one. The solution is in after.ts; try first.
 */
import pLimit from 'p-limit';
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';

/** Every file's vector, in the order of `files`, at most `concurrency` files in progress at once. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  const concurrency = concurrencyOf(opts);
  void pLimit;
  void embedFile;
  // TODO(1): at most `concurrency` embedFile calls at once (p-limit), results in input order (Promise.all).
  throw new Error(`TODO(02-async-io, step 1): embedAll with concurrency ${concurrency} in exercise.ts`);
}

/** Yields each file's vector in input order; at most `concurrency` files in progress at once. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  const concurrency = concurrencyOf(opts);
  // TODO(2): a window of at most `concurrency` promises; await the head, refill, yield the head; until done.
  throw new Error(`TODO(02-async-io, step 2): embedStream with a window of ${concurrency} in exercise.ts`);
}
