/**
 * The same handler, non-blocking: the same work in the same order, but it never holds the event loop for long.
 *
 * - File reads use `fs/promises.readFile`: the read happens on libuv's thread pool while the loop serves others.
 * - The CPU work (parse, chunk, analyse, index) runs in slices: after each piece of work, if the current slice has
 *   run for more than `SLICE_MS`, the handler awaits `setImmediate()`. That ends the current turn of the event loop;
 *   the loop polls the sockets (accepting connections, reading requests, answering /healthz) and then resumes the
 *   job in its check phase.
 *
 * The job itself is not faster (a little slower: the yields and the async reads cost something). What changes is
 * that no request waits behind it for more than a slice. The async reads alone would not do that: between two reads
 * the CPU work on one file runs unbroken, and one long document is one long block. To also use a second core, move
 * the job to a worker thread (see variants.ts).
 */
import { readFile } from 'node:fs/promises';
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
const SLICE_MS = 5;

export async function searchFiles(files: CorpusFile[], params: SearchParams): Promise<Hit[]> {
  let sliceStart = performance.now();
  const pause = async () => {
    if (performance.now() - sliceStart < SLICE_MS) return;
    await yieldToLoop();
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
    sliceStart = performance.now(); // the await above was a turn of the loop already
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
