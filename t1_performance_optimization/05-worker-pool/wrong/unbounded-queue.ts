/**
 * Wrong (on purpose): every task of the batch is handed to the pool at once, `Promise.all(tasks.map((t) =>
 * pool.run(t)))`, ignoring `parallelism`. Piscina runs as many as it has threads and keeps the rest in its queue,
 * which has no bound: a batch of 10,000 documents is 2,500 tasks queued at once (each holding its documents until a
 * thread takes it), a second caller's tasks wait behind all of them, and `{ parallelism: 1 }` does not limit anything.
 *
 * @rejected-with 6 tasks in flight at once, bound 2
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
      const tasks: EmbedTask[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        tasks.push({ docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'transfer' });
      }
      const parts = await Promise.all(tasks.map((task) => pool.run(task))); // all submitted now; the pool queues the rest
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
