/**
 * The pool's worker (loaded through worker-boot.mjs). Each thread builds a SIF embedder over the GloVe matrix the
 * main thread shares with it (a SharedArrayBuffer: 136 MB, in memory once for all threads) and restores the fitted
 * SIF state, then serves tasks.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { SifEmbedder } from '../../shared/embed/sif.ts';
import { chunkAndEmbed, type EmbedTask, type EmbeddedChunks, type ReturnMode } from './work.ts';
import { gloveFromShared, type WorkerInit } from './shared-glove.ts';

const init = workerData as WorkerInit;
const sif = new SifEmbedder(gloveFromShared(init.glove));
sif.restore(init.sifState);

/** Chunk and embed one task's documents; return the rows the way `task.mode` says. */
export default function embedTask(task: EmbedTask): EmbeddedChunks | ReturnType<typeof move> {
  if (task.holdMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, task.holdMs);
  const out = chunkAndEmbed(sif, task.docs, task.offset, task.chunk);
  return pack(out, task.mode);
}

/**
 * How the result crosses back to the main thread:
 * - copy: returned as is; postMessage's structured clone copies the rows' bytes;
 * - transfer: wrapped so piscina puts the rows' ArrayBuffer in the transferList (ownership moves, no copy). Piscina
 *   only looks at the top-level return value, so the whole result is wrapped, not just the Float32Array;
 * - shared: the rows are written into a SharedArrayBuffer, which postMessage passes by reference.
 */
function pack(out: EmbeddedChunks, mode: ReturnMode): EmbeddedChunks | ReturnType<typeof move> {
  if (mode === 'copy') return out;
  if (mode === 'transfer') {
    const buffer = out.vectors.buffer as ArrayBuffer;
    return move({ [transferableSymbol]: [buffer], [valueSymbol]: out } as never);
  }
  const shared = new Float32Array(new SharedArrayBuffer(out.vectors.byteLength));
  shared.set(out.vectors);
  return { ...out, vectors: shared };
}

/** For the transfer benchmark: n × dim rows (no embedding work), returned the way `mode` says. */
export function rows({ n, dim, mode }: { n: number; dim: number; mode: ReturnMode }): EmbeddedChunks | ReturnType<typeof move> {
  const v = new Float32Array(n * dim).fill(0.5);
  return pack({ ids: [], dim, vectors: v }, mode);
}
