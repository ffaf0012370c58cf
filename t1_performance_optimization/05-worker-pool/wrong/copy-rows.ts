/**
 * Wrong (on purpose): split, at most `parallelism` tasks at once, stitched in order: everything right, except that
 * the rows come back by copy unless the caller asks otherwise. `postMessage` then clones every byte of every task's
 * rows into the main thread's heap (and the worker's copy becomes garbage), although the worker has no further use
 * for them: transferring the buffer would move it without copying a byte.
 *
 * What differs from after.ts: the default return mode of embedDocs ('copy' instead of 'transfer'); the pool and the
 * rest of embedDocs are after.ts's.
 *
 * @rejected-with bytes of rows copied between threads
 */
import { createChunkEmbedder as createPoolEmbedder, type PoolChunkEmbedder } from '../after.ts';
import type { ChunkEmbedderOptions } from '../types.ts';

export { WORKER_FILE, type PoolChunkEmbedder } from '../after.ts';

export async function createChunkEmbedder(opts: ChunkEmbedderOptions): Promise<PoolChunkEmbedder> {
  const e = await createPoolEmbedder(opts);
  return { ...e, embedDocs: (docs, run = {}) => e.embedDocs(docs, { ...run, mode: run.mode ?? 'copy' }) };
}
