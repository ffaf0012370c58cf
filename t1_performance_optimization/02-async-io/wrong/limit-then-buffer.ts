/**
 * Wrong (on purpose, for `embedStream`): reuse embedAll's limiter and yield the promises in order. The service never
 * sees more than `concurrency` calls, so it looks bounded, but a call that finishes behind a slow head frees its slot
 * at once and the next file starts: the finished results pile up, waiting to be yielded behind the head. With one
 * slow file early on, the whole corpus can end up in memory, which is what a stream was for avoiding. The bound that
 * keeps memory O(concurrency) counts files started and not yet handed to the consumer, not calls in flight.
 *
 * What differs from after.ts: embedStream only; embedAll is after.ts's.
 *
 * @rejected-with not yet yielded
 */
import pLimit from 'p-limit';
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from '../embed-file.ts';

export { embedAll, type EmbedClient, type Embedded, type EmbedOptions } from '../after.ts';

/** Yields each file's vector in input order; at most `concurrency` calls in flight, results buffered behind the head. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  const limit = pLimit(concurrencyOf(opts));
  const all = files.map((file) => limit(() => embedFile(file, client)));
  for (const p of all) p.catch(() => {});
  try {
    for (const p of all) yield await p;
  } finally {
    limit.clearQueue();
  }
}
