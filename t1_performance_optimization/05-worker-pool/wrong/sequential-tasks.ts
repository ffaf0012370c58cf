/**
 * Wrong (on purpose): the batch is split into tasks of `docsPerTask` documents, but each task is awaited before the
 * next is sent: `for (const task of tasks) parts.push(await pool.run(task))`. The results are right and in order;
 * only one thread ever works at a time, so a pool of two is a pool of one with extra overhead.
 *
 * @rejected-with at most 1 task in flight on 2 threads
 */
import os from 'node:os';
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
      const parts: EmbeddedChunks[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        const task: EmbedTask = { docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'transfer' };
        parts.push(await pool.run(task)); // the next task waits for this one: one thread works
      }
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
