/**
 * The CPU-bound work the lesson moves off the main thread, written once: chunk a group of documents and embed every
 * chunk with SIF over GloVe-100d. Used as-is by before.ts (main thread) and by the pool's worker (embed-worker.ts).
 */
import { chunkDocument, validateDoc, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { loadGlove } from '../../shared/embed/glove-cache.ts';
import { SifEmbedder, type SifState } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import type { Doc } from '../../shared/types.ts';

/** How embedding rows come back from a worker thread. */
export type ReturnMode =
  /** structured clone: the rows' bytes are copied into the main thread's heap */
  | 'copy'
  /** transferList (`Piscina.move`): the ArrayBuffer changes owner, no bytes copied; the worker can no longer use it */
  | 'transfer'
  /** the worker writes the rows into a SharedArrayBuffer: both threads see the same memory, nothing copied or moved */
  | 'shared';

export const RETURN_MODES: readonly ReturnMode[] = ['copy', 'transfer', 'shared'];

export interface EmbedTask {
  docs: Doc[];
  /** Index of the first document in the whole batch (for error messages). */
  offset: number;
  chunk?: ChunkOptions;
  mode: ReturnMode;
  /** Keep the thread busy this long first (used to reach every thread when warming the pool up). Default 0. */
  holdMs?: number;
}

/** Chunk ids in order and their vectors, row-major (ids.length × dim). */
export interface EmbeddedChunks {
  ids: string[];
  dim: number;
  vectors: Float32Array;
}

/** A SIF embedder over the cached GloVe vectors, restored to a fitted state (so every thread embeds identically). */
export async function restoreEmbedder(state: SifState): Promise<SifEmbedder> {
  const sif = new SifEmbedder(await loadGlove());
  sif.restore(state);
  return sif;
}

/** chunk → embed for a group of documents. Throws RagError('INVALID_INPUT') naming a malformed document. */
export function chunkAndEmbed(sif: SifEmbedder, docs: readonly unknown[], offset: number, chunk?: ChunkOptions): EmbeddedChunks {
  const chunks = docs.flatMap((d, i) => chunkDocument(validateDoc(d, offset + i), chunk));
  const rows = sif.embedSync(chunks.map(indexText));
  // embedSync's rows are views of one contiguous buffer: hand that buffer back as the matrix
  const vectors = rows.length > 0 ? new Float32Array(rows[0].buffer, 0, rows.length * sif.dim) : new Float32Array(0);
  return { ids: chunks.map((c) => c.id), dim: sif.dim, vectors };
}
