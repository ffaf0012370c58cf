/**
 * Wrong (on purpose): every task of the batch is handed to the pool at once, `Promise.all(tasks.map((t) =>
 * pool.run(t)))`, ignoring `parallelism`. Piscina runs as many as it has threads and keeps the rest in its queue,
 * which has no bound: a batch of 10,000 documents is 2,500 tasks queued at once (each holding its documents until a
 * thread takes it), a second caller's tasks wait behind all of them, and `{ parallelism: 1 }` does not limit anything.
 *
 * What differs from after.ts: embedDocs (every task submitted at once, no limiter); the pool is after.ts's.
 *
 * @rejected-with 6 tasks in flight at once, bound 2
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
      const tasks: EmbedTask[] = [];
      for (let i = 0; i < docs.length; i += docsPerTask) {
        tasks.push({ docs: docs.slice(i, i + docsPerTask), offset: i, chunk: opts.chunk, mode: run.mode ?? 'transfer' });
      }
      const parts = await Promise.all(tasks.map((task) => e.pool.run(task))); // all submitted now; the pool queues the rest
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
