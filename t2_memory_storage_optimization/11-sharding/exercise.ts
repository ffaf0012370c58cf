/**
 * EXERCISE 11-sharding — split the collection into `opts.shards` shards on as many threads, search them together, and
 * return exactly what one index returns.
 *
 * As shipped it is correct and not sharded at all: one ShardWorker thread (shared/index/sharded.ts) holds every chunk
 * and answers every query, whatever `opts.shards` says. The checkpoint accepts its results and rejects the split:
 *
 *   - every chunk lives in exactly one shard, and no shard holds much more than n / shards of them;
 *   - every shard is searched at the same time as the others;
 *   - the merged hits equal one index's exactly, labels and scores, for BM25 and for the vectors, with 2 and with 3
 *     shards; equal scores at the cut go to the lower labels, as one index gives them.
 *
 * The decisions are yours: which chunk goes to which shard; what a shard must know to score BM25 as the whole
 * collection would (a shard on its own knows only its own documents); what each shard returns and how the lists
 * become one. A ShardWorker is one thread holding one shard: read shared/index/sharded.ts for what it can do.
 *
 * What must hold (checked by `npm run checkpoint -- 11-sharding`): the interface below, the results of before.ts,
 * and close() stops every thread you started.
 *
 * Measure yours beside before and after: npm run t2 -- --only 11-sharding --impl exercise --quick
 * Stuck? npm run hint -- 11-sharding
 */
import { ShardWorker } from '../../shared/index/sharded.ts';
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
  /** Shards to split the collection into (one thread each). */
  shards: number;
}

export interface Searcher {
  /** How many shards the collection is split into. */
  readonly shards: number;
  search(query: Query, k: number): Promise<Results>;
  /** Stops the threads. */
  close(): Promise<void>;
}

/** The collection split into `n` shards, one ShardWorker thread each, every one loaded with its part. */
export async function startShards(corpus: Corpus, _n: number): Promise<ShardWorker[]> {
  const { texts, matrix, dim } = corpus;
  // TODO: one thread holds the whole collection; split it into _n shards instead.
  const labels = Int32Array.from(texts, (_, i) => i);
  const worker = await ShardWorker.start();
  await worker.load({ labels, texts, vectors: { matrix, dim, rows: labels } });
  return [worker];
}

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const [worker] = await startShards(corpus, opts.shards);

  return {
    shards: 1,
    async search(query, k) {
      const { text, dense } = await worker.search({ k, tokens: query.tokens, vector: query.vector });
      return { text, dense };
    },
    close: () => worker.close(),
  };
}
