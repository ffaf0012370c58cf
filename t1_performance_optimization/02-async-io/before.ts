/**
 * Embedding a folder of documents, written the way it usually starts: a for loop with two awaits, one file after
 * another. Each iteration waits for the disk, then for the embedding service's answer, and only then starts the next:
 * the process is idle almost all the time, and n files take n × (read + round trip).
 */
import { concurrencyOf, embedFile, type EmbedClient, type Embedded, type EmbedOptions } from './embed-file.ts';

export type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';

/** Every file's vector, in the order of `files`. */
export async function embedAll(files: string[], client: EmbedClient, opts: EmbedOptions = {}): Promise<Embedded[]> {
  concurrencyOf(opts); // validated, but this version does one at a time
  const out: Embedded[] = [];
  for (const file of files) out.push(await embedFile(file, client));
  return out;
}

/** The same as a stream: yields each file's vector, in order, as soon as it is done. */
export async function* embedStream(files: string[], client: EmbedClient, opts: EmbedOptions = {}): AsyncGenerator<Embedded> {
  concurrencyOf(opts);
  for (const file of files) yield await embedFile(file, client);
}
