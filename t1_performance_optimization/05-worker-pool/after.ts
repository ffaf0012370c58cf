/**
 * Chunk + embed on a pool of worker threads (piscina). The batch is cut into tasks of a few documents; at most
 * `parallelism` of them are handed to the pool at once (the pool's own queue has no bound, so nothing waits there),
 * each thread embeds with the same shared GloVe matrix and the same fitted SIF state, and the results are stitched
 * back together in document order. The main thread only splits, waits and copies rows into place, so it stays free
 * for other work, and with 2 cores two tasks really run at once.
 *
 * Costs that do not go away: each thread builds its embedder once (the 136 MB GloVe matrix is shared with every
 * thread through a SharedArrayBuffer, see shared-glove.ts; each thread rebuilds the 341k-word Map), each task's
 * documents are cloned into the worker, and each result comes back through postMessage. By default the
 * rows' ArrayBuffer is transferred (`Piscina.move`: ownership moves, no bytes are copied); `{ mode: 'copy' }` clones them,
 * `{ mode: 'shared' }` writes them into a SharedArrayBuffer. The benchmark measures all three.
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
      // 1. split into tasks and run them, at most `parallelism` at once (the pool queues the rest)
      const limit = pLimit(Math.max(1, Math.min(threads, run.parallelism ?? threads)));
      const tasks: Promise<EmbeddedChunks>[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        const task: EmbedTask = { docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'transfer' };
        tasks.push(limit(() => pool.run(task)));
      }
      const parts = await Promise.all(tasks); // rejects with the first failing task's error
      // 2. stitch the parts together in document order
      const dim = opts.sifState.dim;
      const ids = parts.flatMap((p) => p.ids);
      const vectors = new Float32Array(ids.length * dim);
      let off = 0;
      for (const p of parts) {
        vectors.set(p.vectors, off);
        off += p.vectors.length;
      }
      return { ids, dim, vectors };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.destroy();
    },
  };
}
