/**
 * Wrong (on purpose): concurrency by fixed batches. The files are cut into slices of `concurrency`, each slice runs
 * with `Promise.all`, and the next slice starts only when the whole slice is done. The bound holds (never more than
 * `concurrency` calls in flight), but every slice waits for its slowest call: while that one call runs, the other
 * slots sit idle although files are waiting. Against a service with a latency tail, one slow call in a slice costs
 * the whole slice. A sliding window starts the next file the moment any call finishes.
 *
 * What differs from after.ts: both functions (embedAll and embedStream), each cut into fixed slices; the types are
 * after.ts's.
 *
 * @rejected-with waited to start
 */
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from '../embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from '../after.ts';

/** Every file's vector, in the order of `files`, in slices of `concurrency` files. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  const concurrency = concurrencyOf(opts);
  const out: Embedded[] = [];
  for (let i = 0; i < files.length; i += concurrency) {
    out.push(...(await Promise.all(files.slice(i, i + concurrency).map((file) => embedFile(file, client)))));
  }
  return out;
}

/** Yields each file's vector in input order, one slice of `concurrency` files at a time. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  const concurrency = concurrencyOf(opts);
  for (let i = 0; i < files.length; i += concurrency) {
    yield* await Promise.all(files.slice(i, i + concurrency).map((file) => embedFile(file, client)));
  }
}
