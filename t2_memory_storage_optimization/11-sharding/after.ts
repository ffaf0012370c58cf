/**
 * N shards on N threads, searched in parallel, merged into exactly what one index returns:
 *
 * - **Partition by a hash of the label** (`shardOf`): each chunk lives in exactly one shard, and shards come out
 *   about equal whatever order chunks arrive in.
 * - **Build in parallel**: each shard thread analyses and indexes its own part (`ShardWorker.load`: a BM25 shard
 *   built by the engine's Bm25Index, and a FlatIndex of its rows read from the SharedArrayBuffer).
 * - **Collection statistics**: BM25 scores a term by idf(N, df) and a document by its length against the average.
 *   A shard alone knows only its own N, lengths and df, which give different scores; the coordinator sums the
 *   shards' statistics once and sends those of the query's terms with every query.
 * - **Fan out, then merge by score**: every shard gets the query at once (the threads work at the same time), each
 *   returns its own k best (all k may be in one shard), and the lists are merged by score, ties to the lower label,
 *   the order one index uses.
 *
 * The engine's version of this coordinator is `ShardedIndex` in shared/index/sharded.ts.
 */
import {
  collectionStats,
  mergeTopK,
  queryStats,
  shardOf,
  ShardWorker,
  type CollectionStats,
  type ShardQuery,
} from '../../shared/index/sharded.ts';
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

/** The collection split into `n` shards, one ShardWorker thread each, every one loaded with its part (steps 1 and 2). */
export async function startShards(corpus: Corpus, n: number): Promise<ShardWorker[]> {
  const { texts, matrix, dim } = corpus;
  // 1. partition: label → shard by a hash of the label
  const parts = Array.from({ length: n }, () => [] as number[]);
  for (let label = 0; label < texts.length; label++) parts[shardOf(label, n)].push(label);
  // 2. one thread per shard, each building its part at the same time (vectors shared, not copied)
  const workers = await Promise.all(parts.map(() => ShardWorker.start()));
  await Promise.all(
    workers.map((w, s) => {
      const labels = Int32Array.from(parts[s]);
      return w.load({ labels, texts: parts[s].map((l) => texts[l]), vectors: { matrix, dim, rows: labels } });
    }),
  );
  return workers;
}

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const n = opts.shards;
  const workers = await startShards(corpus, n);
  // 3. the collection's statistics: every shard's N, lengths and document frequencies, summed
  const stats: CollectionStats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));

  return {
    shards: n,
    async search(query, k) {
      // 4. every shard at once, each for its own k best, scored with the collection's statistics
      const req: ShardQuery = { k, tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers = await Promise.all(workers.map((w) => w.search(req)));
      // 5. merge by score, ties to the lower label
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
