/** The interface before.ts and after.ts share. */
import type { ChunkOptions } from '../../shared/corpus/chunk.ts';
import type { SifState } from '../../shared/embed/sif.ts';
import type { Doc } from '../../shared/types.ts';
import type { EmbeddedChunks, ReturnMode } from './work.ts';

export interface ChunkEmbedderOptions {
  /** A fitted SIF embedder's `state()`: every thread restores it, so every thread embeds identically. */
  sifState: SifState;
  /** Chunking bounds. Default: the engine's (200 / 40 tokens). */
  chunk?: ChunkOptions;
  /** Worker threads (after.ts). Default 2 (the machine's cores). */
  threads?: number;
  /** Documents per task sent to a worker (after.ts). Default 4. */
  docsPerTask?: number;
}

export interface EmbedOptions {
  /** Tasks in flight at once, i.e. threads working (after.ts). Default: all the pool's threads. */
  parallelism?: number;
  /** How rows come back from a worker (after.ts). Default 'transfer'. */
  mode?: ReturnMode;
}

export interface ChunkEmbedder {
  /** Worker threads doing the work (0: the main thread). */
  readonly threads: number;
  /** Chunks of all `docs` in order (document order, then position) and their vectors, row-major. */
  embedDocs(docs: readonly Doc[], opts?: EmbedOptions): Promise<EmbeddedChunks>;
  /** Releases the threads; the process can exit afterwards. Later calls to embedDocs reject. */
  close(): Promise<void>;
}

export type { SifState, EmbeddedChunks, ReturnMode };
