/**
 * Wrong (on purpose): async reads and a time check every chunk, but the "yield" is `await Promise.resolve()`. An
 * `await` on a promise that is already resolved only queues a microtask, and Node drains the microtask queue before
 * it goes back to the event loop: the handler resumes at once, in the same turn, and no socket is polled, no timer
 * fires. It looks like slicing and is not (`process.nextTick` and `queueMicrotask` behave the same way).
 *
 * What differs from after.ts: the one line of searchFiles that yields (`await Promise.resolve()` instead of
 * `setImmediate`); startServer is redefined only to serve this searchFiles. The yield sits inside after.ts's one job
 * function, which takes no way to swap it, so that function is written out here whole.
 *
 * @rejected-with 1015 of the document's 1015 chunks analysed in one turn of the event loop
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseBrown } from '../../../shared/corpus/brown.ts';
import { chunkDocument } from '../../../shared/corpus/chunk.ts';
import { RagError } from '../../../shared/errors.ts';
import { Bm25Index } from '../../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../../shared/text/analyzer.ts';
import type { Chunk } from '../../../shared/types.ts';
import { brownFiles } from '../data.ts';
import { listen, type CorpusFile, type Hit, type RunningServer, type SearchParams, type ServerOptions } from '../server-kit.ts';

export type { Hit, RunningServer, ServerOptions } from '../after.ts';

const SLICE_MS = 5;

export async function searchFiles(files: CorpusFile[], params: SearchParams): Promise<Hit[]> {
  let sliceStart = performance.now();
  const pause = async () => {
    if (performance.now() - sliceStart < SLICE_MS) return;
    await Promise.resolve();
    sliceStart = performance.now();
  };

  const index = new Bm25Index();
  const chunks: Chunk[] = [];
  for (const file of files) {
    let raw: string;
    try {
      raw = await readFile(file.path, 'utf8');
    } catch (err) {
      throw new RagError('NOT_FOUND', `cannot read ${file.id} (${file.path}): ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    sliceStart = performance.now();
    const doc = { id: file.id, text: parseBrown(raw) };
    await pause();
    for (const chunk of chunkDocument(doc)) {
      index.add(chunks.length, defaultAnalyzer.analyze(chunk.text));
      chunks.push(chunk);
      await pause();
    }
  }
  return index
    .search(defaultAnalyzer.analyze(params.query), params.k)
    .map(({ label, score }) => ({ id: chunks[label].id, docId: chunks[label].docId, score }));
}

export function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  return listen(searchFiles, opts.files ?? brownFiles(), opts);
}
