/**
 * GloVe for the worker threads without loading it once per thread: the main thread copies the 341k × 100 matrix into
 * a SharedArrayBuffer once, and every worker wraps the same memory in a Float32Array (nothing copied). The words list
 * is cloned into each worker (a few MB) and each builds its own word → rank Map (part of the start-up the bench reports).
 */
import { loadGlove, type GloveVectors } from '../../shared/embed/glove-cache.ts';
import type { SifState } from '../../shared/embed/sif.ts';

export interface SharedGlove {
  dim: number;
  count: number;
  words: string[];
  /** count × dim floats, rank-major. */
  vectors: SharedArrayBuffer;
}

export interface WorkerInit {
  glove: SharedGlove;
  sifState: SifState;
}

let memo: Promise<SharedGlove> | undefined;

/** The cached GloVe vectors, copied once per process into a SharedArrayBuffer. */
export function sharedGlove(): Promise<SharedGlove> {
  memo ??= loadGlove().then((g) => {
    const sab = new SharedArrayBuffer(g.vectors.byteLength);
    new Float32Array(sab).set(g.vectors);
    return { dim: g.dim, count: g.count, words: g.words, vectors: sab };
  });
  return memo;
}

/** Wraps the shared matrix (no copy) and rebuilds the index Map. */
export function gloveFromShared(s: SharedGlove): GloveVectors {
  const index = new Map<string, number>();
  for (let r = 0; r < s.words.length; r++) index.set(s.words[r], r);
  return { dim: s.dim, count: s.count, words: s.words, index, vectors: new Float32Array(s.vectors) };
}
