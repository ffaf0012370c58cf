/**
 * The same work with the waiting overlapped, and a bound on how much overlaps:
 *
 * - `embedAll`: p-limit runs at most `concurrency` files at once (read + call); `Promise.all` keeps the input order.
 *   It is a sliding window: the moment one call ends, the next waiting file takes its slot, so a slow call holds up
 *   only its own slot, never a whole batch. While one call waits for the service, up to concurrency − 1 others wait
 *   with it, so n files take about n / concurrency round trips. The bound protects the service (it sees at most `concurrency` requests in flight),
 *   the process (at most `concurrency` file texts in memory at once) and the sockets. On the first error the queue
 *   is cleared: no new file starts, and the error (naming the file) rejects the call.
 * - `embedStream`: the same bound as an async generator, for a consumer that handles one result at a time (writes
 *   it to an index, a file...): a window of at most `concurrency` promises, started in input order and yielded in
 *   input order. Results are not accumulated: memory stays O(concurrency), not O(n). A slow head of the window holds
 *   the others back (in-order delivery costs a little throughput); an error surfaces at that file's position, after
 *   every earlier result was yielded.
 */
import pLimit from 'p-limit';
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';

/** Every file's vector, in the order of `files`, at most `concurrency` files in progress at once. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  const limit = pLimit(concurrencyOf(opts));
  try {
    return await Promise.all(files.map((file) => limit(() => embedFile(file, client))));
  } finally {
    limit.clearQueue(); // after an error: start nothing more
  }
}

/** Yields each file's vector in input order; at most `concurrency` files in progress at once. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  const concurrency = concurrencyOf(opts);
  const window: Promise<Embedded>[] = [];
  let next = 0;
  const refill = () => {
    while (next < files.length && window.length < concurrency) {
      const p = embedFile(files[next++], client);
      p.catch(() => {}); // handled when it reaches the head; avoids an unhandled rejection if we stop early
      window.push(p);
    }
  };
  refill();
  while (window.length > 0) {
    const head = await window.shift()!;
    refill(); // a slot is free: start the next file before handing this result to the consumer
    yield head;
  }
}
