/**
 * 09-compression, before: everything at full size in memory, the way an index starts.
 *
 * Vectors live in the engine's exact float32 index (`FlatIndex`: every row normalised and packed in one
 * Float32Array, 4 bytes per dimension, 400 bytes per 100-d vector), and a search scores all of them. Texts are kept
 * as the strings they came in. Exact and simple; the cost is memory: the vectors alone are 400 MB at 1M chunks,
 * the texts about 1 GB.
 */
import { RagError } from '../../shared/errors.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

export type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

/** Builds the exact float32 index over `vectors`; `full` is not needed (every row is already in memory). */
export function buildIndex(vectors: Float32Array[], _full: FullRows): VectorStore {
  const dim = vectors.length > 0 ? vectors[0].length : _full.dim;
  const index = new FlatIndex({ dim, initialCapacity: Math.max(1, vectors.length) });
  index.add(vectors.map((_, i) => i), vectors);
  return {
    size: vectors.length,
    dim,
    search(query: Float32Array, k: number): ScoredLabel[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      return index.search(query, k);
    },
  };
}

/** Keeps the texts as given: a string per text. */
export function packTexts(texts: string[]): TextStore {
  const kept = texts.slice();
  return {
    size: kept.length,
    get(i: number): string {
      if (!Number.isInteger(i) || i < 0 || i >= kept.length) throw new RagError('INVALID_INPUT', `get: no text ${i} (size ${kept.length})`);
      return kept[i];
    },
  };
}
