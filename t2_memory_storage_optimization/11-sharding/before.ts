/**
 * One index, one thread: the whole collection in one `Bm25Index` and one `FlatIndex` on the main thread, every query
 * scored against all of it there. Simple and exact, and a query's cost grows with the collection: at some size one
 * core is not fast enough, and one heap not big enough.
 *
 * The reference for the checkpoint: a sharded search must return exactly these hits.
 */
import { Bm25Index } from '../../shared/index/bm25.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { ScoredLabel } from '../../shared/types.ts';

/** What every version indexes. Label i is chunk i. */
export interface Corpus {
  /** The text each chunk is indexed under (title + text). */
  texts: readonly string[];
  /** n × dim chunk vectors, row i = label i, backed by a SharedArrayBuffer. */
  matrix: Float32Array;
  dim: number;
}

/** A query: its analysed terms (for BM25) and its vector (for exact cosine search). */
export interface Query {
  tokens: readonly string[];
  vector: Float32Array;
}

/** The k best chunks by BM25 and by cosine, each best first (ties: lower label first). */
export interface Results {
  text: ScoredLabel[];
  dense: ScoredLabel[];
}

export interface SearchOptions {
  /** Shards to split the collection into (one thread each). The one-index version has one, on the main thread. */
  shards: number;
}

export interface Searcher {
  /** How many shards the collection is split into. */
  readonly shards: number;
  search(query: Query, k: number): Promise<Results>;
  /** Stops the threads, if any. */
  close(): Promise<void>;
}

export async function openSearcher(corpus: Corpus, _opts: SearchOptions): Promise<Searcher> {
  const { texts, matrix, dim } = corpus;
  const bm25 = new Bm25Index();
  const flat = new FlatIndex({ dim, initialCapacity: Math.max(1, texts.length) });
  const labels: number[] = [];
  const rows: Float32Array[] = [];
  for (let i = 0; i < texts.length; i++) {
    bm25.add(i, defaultAnalyzer.analyze(texts[i]));
    labels.push(i);
    rows.push(matrix.subarray(i * dim, (i + 1) * dim));
  }
  flat.add(labels, rows);
  return {
    shards: 1,
    search: async (query, k) => ({ text: bm25.search(query.tokens, k), dense: flat.search(query.vector, k) }),
    close: async () => {},
  };
}
