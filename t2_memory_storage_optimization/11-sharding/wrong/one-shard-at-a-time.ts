/**
 * Wrong (on purpose): correct shards, statistics and merge, but the query goes to one shard, waits for its answer,
 * then goes to the next. The results are exact; the latency is the sum of the shards' times plus a round trip each,
 * which is no faster than one index and usually slower: the threads never work at the same time.
 *
 * What differs from after.ts: openSearcher's search, a loop of awaits instead of sending every request before
 * waiting for any; the shards (`startShards`), the statistics and the merge are after.ts's.
 *
 * @rejected-with shards searched at once
 */
import { collectionStats, mergeTopK, queryStats, type ShardHits } from '../../../shared/index/sharded.ts';
import { startShards, type Corpus, type Searcher, type SearchOptions } from '../after.ts';

export { startShards, type Corpus, type Query, type Results, type Searcher, type SearchOptions } from '../after.ts';

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const workers = await startShards(corpus, opts.shards);
  const stats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));
  return {
    shards: opts.shards,
    async search(query, k) {
      const req = { k, tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers: ShardHits[] = [];
      for (const w of workers) answers.push(await w.search(req));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => void (await Promise.all(workers.map((w) => w.close()))),
  };
}
