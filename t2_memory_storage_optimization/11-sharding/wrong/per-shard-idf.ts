/**
 * Wrong (on purpose): partitioned, built and searched in parallel, merged by score, but every shard scores BM25 with
 * its own statistics: its own N, its own average length, its own document frequencies. That is what a shard does by
 * default (a shard is "just an index of its part"), and the scores it gives are not the collection's: a term that is
 * rare in one shard and common in the other gets two idfs, so one shard's 7.2 and the other's 6.9 do not compare.
 *
 * What differs from after.ts: openSearcher sums no collection statistics and its queries carry none; the shards
 * (`startShards`), the fan-out and the merge are after.ts's.
 *
 * @rejected-with each shard scored BM25 with its own N, average length and document frequencies
 */
import { mergeTopK } from '../../../shared/index/sharded.ts';
import { startShards, type Corpus, type Searcher, type SearchOptions } from '../after.ts';

export { startShards, type Corpus, type Query, type Results, type Searcher, type SearchOptions } from '../after.ts';

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const workers = await startShards(corpus, opts.shards);
  return {
    shards: opts.shards,
    async search(query, k) {
      const answers = await Promise.all(workers.map((w) => w.search({ k, tokens: query.tokens, vector: query.vector })));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => void (await Promise.all(workers.map((w) => w.close()))),
  };
}
