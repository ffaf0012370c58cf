/**
 * Wrong (on purpose): concurrency without a bound, the usual first attempt. `Promise.all(files.map(embedFile))`
 * starts every read and every call at once; the stream does the same and yields in order. It is the fastest against
 * this loopback service, which accepts anything, but a real embedding API answers a burst of n requests with 429s,
 * every file's text is in memory at once, and sockets and file descriptors run out at a few thousand files.
 * `concurrency` is read and ignored.
 *
 * What differs from after.ts: both functions (embedAll and embedStream), neither bounded; the types are after.ts's.
 *
 * @rejected-with calls in flight, bound
 */
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from '../embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from '../after.ts';

/** Every file's vector, in the order of `files`: all files at once. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  concurrencyOf(opts);
  return Promise.all(files.map((file) => embedFile(file, client)));
}

/** Yields each file's vector in input order; every file started at once. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  concurrencyOf(opts);
  const all = files.map((file) => embedFile(file, client));
  for (const p of all) p.catch(() => {}); // reported when it is reached, in order
  for (const p of all) yield await p;
}
