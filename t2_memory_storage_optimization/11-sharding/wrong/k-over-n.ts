/**
 * Wrong (on purpose): "two shards, so each returns half of the top 10". Everything else is after.ts's, the merge by
 * score included. But the 10 best are not spread evenly: when 7 of them live in one shard, that shard's 6th and 7th
 * are never returned and weaker hits from the other shard take their places.
 *
 * What differs from after.ts: openSearcher's search asks each shard for ⌈k / shards⌉ hits instead of k; the shards
 * (`startShards`), the statistics and the merge are after.ts's.
 *
 * @rejected-with can live in one shard
 */
import { collectionStats, mergeTopK, queryStats } from '../../../shared/index/sharded.ts';
import { startShards, type Corpus, type Searcher, type SearchOptions } from '../after.ts';

export { startShards, type Corpus, type Query, type Results, type Searcher, type SearchOptions } from '../after.ts';

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const n = opts.shards;
  const workers = await startShards(corpus, n);
  const stats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));
  return {
    shards: n,
    async search(query, k) {
      const req = { k: Math.ceil(k / n), tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers = await Promise.all(workers.map((w) => w.search(req)));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => void (await Promise.all(workers.map((w) => w.close()))),
  };
}
