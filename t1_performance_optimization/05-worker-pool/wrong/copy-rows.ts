/**
 * Wrong (on purpose): split, at most `parallelism` tasks at once, stitched in order: everything right, except that
 * the rows come back by copy unless the caller asks otherwise. `postMessage` then clones every byte of every task's
 * rows into the main thread's heap (and the worker's copy becomes garbage), although the worker has no further use
 * for them: transferring the buffer would move it without copying a byte.
 *
 * @rejected-with bytes of rows copied between threads
 */
import os from 'node:os';
import pLimit from 'p-limit';
import { Piscina } from 'piscina';
import type { Doc } from '../../../shared/types.ts';
import type { ChunkEmbedder, ChunkEmbedderOptions, EmbedOptions } from '../types.ts';
import { sharedGlove, type WorkerInit } from '../shared-glove.ts';
import type { EmbedTask, EmbeddedChunks } from '../work.ts';

/** The pool's entry file: plain JS that registers tsx in the worker and loads embed-worker.ts. */
export const WORKER_FILE = new URL('../worker-boot.mjs', import.meta.url).href;

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
      const tasks: Promise<EmbeddedChunks>[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        const task: EmbedTask = { docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'copy' };
        tasks.push(limit(() => pool.run(task)));
      }
      const parts = await Promise.all(tasks);
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
