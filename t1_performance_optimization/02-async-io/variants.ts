/**
 * One more way for the benchmark: the bounded, ordered stream from the standard library, `Readable.from(files)
 * .map(fn, { concurrency })` (Node ≥ 17.4). The same sliding window as after.ts's hand-written `embedStream`, plus a
 * read-ahead buffer: by default it keeps starting files while up to 2 × concurrency − 1 are started and not yet
 * consumed (never more than `concurrency` calls in flight), so a slow head blocks the window later than after.ts's.
 *
 * The wrong ideas the benchmark also measures live in `wrong/` (fixed batches, unbounded).
 */
import { Readable } from 'node:stream';
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export function embedStreamReadable(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncIterable<Embedded> {
  return Readable.from(files).map((file: string) => embedFile(file, client), { concurrency: concurrencyOf(opts) });
}
