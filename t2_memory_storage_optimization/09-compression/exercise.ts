/**
 * EXERCISE 09-compression — hold the engine's vectors and texts in a fraction of the memory, and still answer exactly.
 *
 * As shipped it is correct and big: `buildIndex` copies every vector into memory at full precision (4 bytes a
 * dimension, 400 bytes a 100-d vector) and scans them all; `packTexts` keeps every text as it came. The checkpoint
 * accepts the answers and rejects the memory.
 *
 * What must hold (checked by `npm run checkpoint -- 09-compression`, on the engine's SIF vectors of Brown chunks and
 * known-item queries, against the exact float32 top 10):
 *
 *   vectors
 *   - recall@10 ≥ 0.95 against the exact float32 search, over all the queries;
 *   - every returned hit carries its exact cosine (within 1e-6 of the float32 score), best first, ties to the lower
 *     row; k > size returns every row; a bad k or a query of another dimension throws;
 *   - the index holds at most 128 bytes per vector, measured from outside (heap and array-buffer growth after a full
 *     GC, with the index built from fresh copies of the vectors: keeping them counts);
 *   - a query reads at most 10 × k rows of `full` (the vectors at full precision, on disk, every read counted);
 *
 *   texts
 *   - every text comes back byte for byte (Unicode, empty texts, a text larger than anything else included);
 *   - the texts are held in at most 45% of their UTF-8 bytes (measured like the vectors);
 *   - reading one text decompresses at most 64 KiB (every zlib decompression counted).
 *
 * The checkpoint rejects, in these terms: bytes per vector over the bound; a recall below the floor; estimated
 * scores returned as if exact; too many full-precision rows read per query; texts held above the bound; a read
 * that decompresses more than the bound.
 *
 * Measure yours beside before and after (bytes per vector, recall@10, time per query, text figures):
 *   npm run t2 -- --only 09-compression --impl exercise --quick
 * Stuck? npm run hint -- 09-compression
 */
import { RagError } from '../../shared/errors.ts';
import type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

export type { FullRows, ScoredLabel, TextStore, VectorStore } from './types.ts';

/** Every row normalised and copied into one Float32Array; a query scores them all. */
export function buildIndex(vectors: Float32Array[], full: FullRows): VectorStore {
  const dim = vectors.length > 0 ? vectors[0].length : full.dim;
  const n = vectors.length;
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[j] * v[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) rows[i * dim + j] = v[j] * inv;
  }
  return {
    size: n,
    dim,
    search(query: Float32Array, k: number): ScoredLabel[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (query.length !== dim) throw new RagError('INVALID_INPUT', `search: query has dim ${query.length}, index has dim ${dim}`);
      let s = 0;
      for (let j = 0; j < dim; j++) s += query[j] * query[j];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      const q = Float32Array.from(query, (x) => x * inv);
      const hits: ScoredLabel[] = [];
      for (let i = 0; i < n; i++) {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += q[j] * rows[i * dim + j];
        hits.push({ label: i, score: dot });
      }
      hits.sort((a, b) => b.score - a.score || a.label - b.label);
      return hits.slice(0, k);
    },
  };
}

/** Keeps the texts as they came. */
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
