/**
 * The search handler written the obvious way: everything inline and synchronous. `readFileSync` for each file, then
 * parse, chunk, analyse and index every chunk, then score the query, all in one run of the handler.
 *
 * Node runs JavaScript on one thread. While this handler runs (tens to hundreds of ms), the event loop cannot accept
 * a connection, read a request, run a timer or send a response: every other request, even GET /healthz, waits for
 * it to finish. Results are right; latency for everyone else is not.
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

export function searchFiles(files: CorpusFile[], params: SearchParams): Hit[] {
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
