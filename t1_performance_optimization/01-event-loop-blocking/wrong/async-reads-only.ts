/**
 * Wrong (on purpose): "readFileSync blocks, so read with fs/promises and the handler is non-blocking". The reads no
 * longer hold the loop, and each `await readFile` is a turn of it, so with many small files a /healthz gets through
 * between two files. But the CPU work between two reads (parse, chunk, analyse one whole file) still runs unbroken:
 * its length is set by the data, not by the code. One long document, and the loop stands still for all of it.
 *
 * What differs from after.ts: searchFiles has no time slices (no `pause`), and startServer is redefined only to serve
 * this searchFiles. The job is one function, so it is written out here whole.
 *
 * @rejected-with 1015 of the document's 1015 chunks analysed in one turn of the event loop
 */
import { readFile } from 'node:fs/promises';
import { parseBrown } from '../../../shared/corpus/brown.ts';
import { chunkDocument } from '../../../shared/corpus/chunk.ts';
import { RagError } from '../../../shared/errors.ts';
import { Bm25Index } from '../../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../../shared/text/analyzer.ts';
import type { Chunk } from '../../../shared/types.ts';
import { brownFiles } from '../data.ts';
import { listen, type CorpusFile, type Hit, type RunningServer, type SearchParams, type ServerOptions } from '../server-kit.ts';

export type { Hit, RunningServer, ServerOptions } from '../after.ts';

export async function searchFiles(files: CorpusFile[], params: SearchParams): Promise<Hit[]> {
  const index = new Bm25Index();
  const chunks: Chunk[] = [];
  for (const file of files) {
    let raw: string;
    try {
      raw = await readFile(file.path, 'utf8');
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
