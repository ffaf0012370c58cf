/**
 * EXERCISE 05-worker-pool — chunk + embed a batch on a piscina pool, with every thread working.
 *
 * The pool is built for you, once, in `createChunkEmbedder` (its threads, the shared GloVe matrix, the warm-up,
 * `close`). As shipped, `embedDocs` is correct and naive: it sends the whole batch to the pool as ONE task and asks
 * for the rows back by copy. The results are right; one thread does all the work while the others sit idle, and
 * every byte of the rows is cloned on its way back. The checkpoint counts what your `embedDocs` asks of the pool
 * (tasks, tasks in flight, bytes of rows by return mode) and rejects:
 *
 *   - fewer tasks in flight than the pool has threads, when the batch has enough documents ("at most 1 task in
 *     flight on 2 threads … 1 thread sat idle");
 *   - more tasks in flight than `parallelism` (default: the pool's threads): the rest would wait in the pool's
 *     unbounded queue ("6 tasks in flight at once, bound 2");
 *   - rows copied back by default ("… bytes of rows copied between threads"); an explicit `{ mode }` is honoured.
 *
 * What must hold as well: the same chunk ids and the same vector bytes as the main thread (`chunkAndEmbed` in
 * work.ts), in document order, whatever the parallelism and with two batches in flight at once; a malformed document
 * rejects with an error naming it (`document #4 (broken-doc)`: the index is its position in the whole batch) and the
 * pool keeps working; nothing comes back for no documents; calls after `close()` reject. The worker side
 * (embed-worker.ts) takes an `EmbedTask` and returns `EmbeddedChunks`, the rows packed the way `task.mode` says.
 *
 * Measure yours beside before and after (the headline is chunks/s):
 *   npm run t1 -- --only 05-worker-pool --impl exercise --quick
 * Check it: npm run checkpoint -- 05-worker-pool
 * Stuck? npm run hint -- 05-worker-pool
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import type { Doc } from '../../shared/types.ts';
import type { ChunkEmbedder, ChunkEmbedderOptions, EmbedOptions } from './types.ts';
import { sharedGlove, type WorkerInit } from './shared-glove.ts';
import type { EmbedTask, EmbeddedChunks } from './work.ts';

/** The pool's entry file: plain JS that registers tsx in the worker and loads embed-worker.ts. */
export const WORKER_FILE = new URL('./worker-boot.mjs', import.meta.url).href;

/** The pool version's extra: its piscina pool, for the benchmark's transfer measurements. */
export interface PoolChunkEmbedder extends ChunkEmbedder {
  readonly pool: Piscina<EmbedTask, EmbeddedChunks>;
}

export async function createChunkEmbedder(opts: ChunkEmbedderOptions): Promise<PoolChunkEmbedder> {
  const threads = opts.threads ?? Math.max(1, Math.min(2, os.availableParallelism()));
  const pool = new Piscina<EmbedTask, EmbeddedChunks>({
    filename: WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
    workerData: { glove: await sharedGlove(), sifState: opts.sifState } satisfies WorkerInit,
  });
  // Wait until every thread has built its embedder: one empty task per thread, each holding its thread for 100 ms so
  // that they spread over all threads. The first batch measured then does not pay for the start-up.
  await Promise.all(Array.from({ length: threads }, () => pool.run({ docs: [], offset: 0, mode: 'copy', holdMs: 100 })));
  let closed = false;

  return {
    threads,
    pool,
    async embedDocs(docs: readonly Doc[], run: EmbedOptions = {}): Promise<EmbeddedChunks> {
      if (closed) throw new Error('createChunkEmbedder: closed');
      if (docs.length === 0) return { ids: [], dim: opts.sifState.dim, vectors: new Float32Array(0) };
      return pool.run({ docs: [...docs], offset: 0, chunk: opts.chunk, mode: run.mode ?? 'copy' });
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.destroy();
    },
  };
}
