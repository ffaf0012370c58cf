/**
 * Wrong (on purpose): the batch is split into tasks of `docsPerTask` documents, but each task is awaited before the
 * next is sent: `for (const task of tasks) parts.push(await pool.run(task))`. The results are right and in order;
 * only one thread ever works at a time, so a pool of two is a pool of one with extra overhead.
 *
 * What differs from after.ts: embedDocs (one task at a time, and no `parallelism`); the pool is after.ts's.
 *
 * @rejected-with at most 1 task in flight on 2 threads
 */
import { createChunkEmbedder as createPoolEmbedder, type PoolChunkEmbedder } from '../after.ts';
import type { ChunkEmbedderOptions } from '../types.ts';
import type { EmbeddedChunks, EmbedTask } from '../work.ts';

export { WORKER_FILE, type PoolChunkEmbedder } from '../after.ts';

export async function createChunkEmbedder(opts: ChunkEmbedderOptions): Promise<PoolChunkEmbedder> {
  const e = await createPoolEmbedder(opts);
  const docsPerTask = opts.docsPerTask ?? 4;
  let closed = false;
  return {
    ...e,
    async embedDocs(docs, run = {}) {
      if (closed) throw new Error('createChunkEmbedder: closed');
      const parts: EmbeddedChunks[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        const task: EmbedTask = { docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'transfer' };
        parts.push(await e.pool.run(task)); // the next task waits for this one: one thread works
      }
      return stitch(parts, opts.sifState.dim);
    },
    close() {
      closed = true;
      return e.close();
    },
  };
}

/** The parts in document order, as one result (as after.ts stitches them). */
function stitch(parts: EmbeddedChunks[], dim: number): EmbeddedChunks {
  const ids = parts.flatMap((p) => p.ids);
  const vectors = new Float32Array(ids.length * dim);
  let off = 0;
  for (const p of parts) {
    vectors.set(p.vectors, off);
    off += p.vectors.length;
  }
  return { ids, dim, vectors };
}
