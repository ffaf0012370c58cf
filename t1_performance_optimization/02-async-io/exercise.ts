/**
 * EXERCISE 02-async-io — overlap the waiting, with a bound.
 *
 * As shipped, both functions are correct and slow: one file at a time, so n files cost n round trips to the
 * embedding service and the process idles through nearly all of them. Make them concurrent without changing what
 * they return. The unit of work stays `embedFile` (embed-file.ts): one call per file, read + embed.
 *
 * What must hold (checked by `npm run checkpoint -- 02-async-io`):
 *
 *   - `embedAll` resolves with every file's vector in the order of `files`; `embedStream` yields the same, in the same
 *     order, each as soon as it and every file before it are done;
 *   - never more than `concurrency` calls in flight ("10 calls in flight, bound 3" is rejected); for `embedStream`,
 *     finished results must not pile up behind a slow file: however long the first file takes, at most
 *     2 × `concurrency` files started and not yet yielded (room for a read-ahead buffer, not for the corpus);
 *   - the bound is used, not only respected: whenever a call finishes and files are still waiting, the next one
 *     starts at once (for `embedStream`: whenever the oldest unfinished call finishes, since later results wait to
 *     be yielded in order). The checkpoint resolves the calls by hand, one at a time and out of order, and rejects a
 *     version that leaves a slot idle while files wait ("only 2 call(s) in flight with concurrency 3 while 7 file(s)
 *     waited to start"), whatever its speed;
 *   - the first error rejects (`embedAll`) or is thrown at that file's position after every earlier result
 *     (`embedStream`), naming the file; a RangeError for a bad `concurrency`.
 *
 * Measure yours beside before and after:  npm run t1 -- --only 02-async-io --impl exercise --quick
 * Stuck? npm run hint -- 02-async-io
 */
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';

/** Every file's vector, in the order of `files`, at most `concurrency` files in progress at once. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  concurrencyOf(opts);
  const out: Embedded[] = [];
  for (const file of files) out.push(await embedFile(file, client));
  return out;
}

/** Yields each file's vector in input order; at most `concurrency` files in progress at once. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  concurrencyOf(opts);
  for (const file of files) yield await embedFile(file, client);
}
