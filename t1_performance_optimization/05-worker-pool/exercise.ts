/**
 * EXERCISE 05-worker-pool — run chunk + embed on a piscina pool. Check with: npm run checkpoint -- 05-worker-pool
 *
 * The pool is built for you (threads, the shared GloVe matrix, the warm-up, close). `embedDocs` is missing (search
 * for TODO):
 *
 * 1. cut `docs` into tasks of `docsPerTask` documents ({ docs, offset: index of the task's first document, chunk,
 *    mode }) and run them with `pool.run(task)`, at most `parallelism` at once (`limit(() => pool.run(task))`);
 *    `Promise.all` rejects with the first failing task's error, which is what the checkpoint wants;
 * 2. stitch the parts back together in document order: ids concatenated, vectors copied into one Float32Array.
 *
 * The solution is in after.ts; try first.
 */
import os from 'node:os';
import pLimit from 'p-limit';
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
  const docsPerTask = opts.docsPerTask ?? 4;
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
      const limit = pLimit(Math.max(1, Math.min(threads, run.parallelism ?? threads)));
      // TODO(1): one EmbedTask per `docsPerTask` documents (mode: run.mode ?? 'transfer'), each run through
      //          limit(() => pool.run(task)); await them all (in order).
      // TODO(2): stitch: ids = every part's ids in order; vectors = one Float32Array(ids.length * opts.sifState.dim)
      //          with each part's vectors copied in at its offset. Return { ids, dim, vectors }.
      throw new Error('TODO(05-worker-pool): split the documents into tasks, run them on the pool, stitch the results');
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.destroy();
    },
  };
}
