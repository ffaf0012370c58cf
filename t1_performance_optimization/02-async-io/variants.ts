/**
 * Two more ways for the benchmark:
 *
 * - `embedAllUnbounded`: the usual first attempt at "make it concurrent", `Promise.all(files.map(embedFile))`.
 *   As fast as it gets here, and it starts every read and every call at once: every file's text is in memory at
 *   the same time, and the service sees n requests in flight (a real API answers that with 429s or falls over).
 * - `embedStreamReadable`: the bounded, ordered stream from the standard library: `Readable.from(files)
 *   .map(fn, { concurrency })` (Node ≥ 17.4), equivalent to after.ts's hand-written window.
 */
import { Readable } from 'node:stream';
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export function embedAllUnbounded(files: string[], client: EmbedClient): Promise<Embedded[]> {
  return Promise.all(files.map((file) => embedFile(file, client)));
}

export function embedStreamReadable(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncIterable<Embedded> {
  return Readable.from(files).map((file: string) => embedFile(file, client), { concurrency: concurrencyOf(opts) });
}
