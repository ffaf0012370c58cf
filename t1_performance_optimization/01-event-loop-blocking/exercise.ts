/**
 * EXERCISE 01-event-loop-blocking — keep the server answering while /search works.
 *
 * As shipped, this handler does what before.ts does: it reads, parses, chunks and analyses every file in one run, so
 * a GET /healthz that arrives meanwhile waits for the whole search, and so does every other request. Change how
 * `searchFiles` does its work so that the event loop keeps turning while a search runs. Same work, same order: the
 * job may get a little slower in total; no other request may wait behind it for more than a few milliseconds.
 *
 * What must hold (`npm run checkpoint -- 01-event-loop-blocking`):
 *   - the interface: searchFiles(files, params) → Promise<Hit[]>, startServer(opts) → RunningServer (server-kit.ts
 *     does the HTTP part; keep using it);
 *   - the hits of before.ts for every query, a 400 naming the bad parameter, a 500 naming a file that cannot be read
 *     (and the server still up);
 *   - a /healthz sent once a search has started is answered before that search finishes;
 *   - the longest run of work between two turns of the event loop stays short however the corpus is cut. The
 *     checkpoint searches one long document (about a thousand chunks), counts the chunks analysed in each turn of the
 *     loop, and rejects a handler that analyses more than half of them without letting the loop turn. A handler that
 *     only waits for its reads without blocking still runs all the work on one document in one go; an `await` that
 *     never reaches the event loop does not count as a turn. It times nothing.
 *
 * Measure yours beside before, after and worker (the headline: /healthz p99 while /search runs):
 *   npm run t1 -- --only 01-event-loop-blocking --impl exercise --quick
 * Stuck? npm run hint -- 01-event-loop-blocking
 */
import { readFileSync } from 'node:fs';
import { parseBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { RagError } from '../../shared/errors.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { brownFiles } from './data.ts';
import { listen, type CorpusFile, type Hit, type RunningServer, type SearchParams, type ServerOptions } from './server-kit.ts';

export type { Hit, RunningServer, ServerOptions } from './server-kit.ts';

export async function searchFiles(files: CorpusFile[], params: SearchParams): Promise<Hit[]> {
  const index = new Bm25Index();
  const chunks: Chunk[] = [];
  for (const file of files) {
    let raw: string;
    try {
      raw = readFileSync(file.path, 'utf8');
    } catch (err) {
      throw new RagError('NOT_FOUND', `cannot read ${file.id} (${file.path}): ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    const doc = { id: file.id, text: parseBrown(raw) };
    for (const chunk of chunkDocument(doc)) {
      index.add(chunks.length, defaultAnalyzer.analyze(chunk.text));
      chunks.push(chunk);
    }
  }
  return index
    .search(defaultAnalyzer.analyze(params.query), params.k)
    .map(({ label, score }) => ({ id: chunks[label].id, docId: chunks[label].docId, score }));
}

export function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  return listen(searchFiles, opts.files ?? brownFiles(), opts);
}
