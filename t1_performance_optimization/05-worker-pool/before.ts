/**
 * Chunk + embed a batch of documents on the main thread, the way it starts: one loop, one thread. Simple and
 * deterministic, but the whole batch is one long synchronous block: the other core sits idle, and nothing else in
 * the process (requests, timers, health checks) runs until the batch is done.
 */
import type { Doc } from '../../shared/types.ts';
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { chunkAndEmbed, restoreEmbedder, type EmbeddedChunks } from './work.ts';
import type { ChunkEmbedder, ChunkEmbedderOptions } from './types.ts';

export async function createChunkEmbedder(opts: ChunkEmbedderOptions): Promise<ChunkEmbedder> {
  let sif: SifEmbedder | undefined = await restoreEmbedder(opts.sifState);
  return {
    threads: 0,
    async embedDocs(docs: readonly Doc[]): Promise<EmbeddedChunks> {
      if (!sif) throw new Error('createChunkEmbedder: closed');
      return chunkAndEmbed(sif, docs, 0, opts.chunk);
    },
    async close() {
      sif = undefined;
    },
  };
}
