/**
 * EXERCISE 01-event-loop-blocking — keep the event loop free while /search works.
 * Check with: npm run checkpoint -- 01-event-loop-blocking
 *
 * As shipped, this handler blocks exactly like before.ts: a /healthz sent while a search runs waits for the whole
 * search. Two TODOs:
 *
 * 1. read each file with `readFile` from 'node:fs/promises' (await it) instead of `readFileSync`: the read then
 *    happens on libuv's thread pool while the loop serves other requests;
 * 2. make `pause()` yield: when the current slice has run for SLICE_MS or more, `await yieldToLoop()` (that is
 *    `setImmediate` from 'node:timers/promises') and start a new slice. One turn of the loop lets it poll the sockets.
 *
 * The results must stay exactly before.ts's. The solution is in after.ts; try first.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { parseBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { RagError } from '../../shared/errors.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { brownFiles } from './data.ts';
import { listen, type CorpusFile, type Hit, type RunningServer, type SearchParams, type ServerOptions } from './server-kit.ts';

export type { Hit, RunningServer, ServerOptions } from './server-kit.ts';

/** Longest the job runs before it lets the event loop serve others. */
export const SLICE_MS = 5;

export async function searchFiles(files: CorpusFile[], params: SearchParams): Promise<Hit[]> {
  let sliceStart = performance.now();
  const pause = async () => {
    if (performance.now() - sliceStart < SLICE_MS) return;
    // TODO(2): yield to the event loop here (await yieldToLoop()), then start a new slice.
    void yieldToLoop;
  };

  const index = new Bm25Index();
  const chunks: Chunk[] = [];
  for (const file of files) {
    let raw: string;
    try {
      // TODO(1): read without blocking (readFile from 'node:fs/promises').
      raw = readFileSync(file.path, 'utf8');
    } catch (err) {
      throw new RagError('NOT_FOUND', `cannot read ${file.id} (${file.path}): ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    sliceStart = performance.now(); // once the read is async, its await is a turn of the loop already
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
