/**
 * Wrong (on purpose): partitioned, built and searched in parallel, merged by score, but every shard scores BM25 with
 * its own statistics: its own N, its own average length, its own document frequencies. That is what a shard does by
 * default (a shard is "just an index of its part"), and the scores it gives are not the collection's: a term that is
 * rare in one shard and common in the other gets two idfs, so one shard's 7.2 and the other's 6.9 do not compare.
 *
 * What differs from after.ts: the query carries no collection statistics.
 *
 * @rejected-with each shard scored BM25 with its own N, average length and document frequencies
 */
import { mergeTopK, shardOf, ShardWorker } from '../../../shared/index/sharded.ts';
import type { Corpus, Searcher, SearchOptions } from '../after.ts';

export type { Corpus, Query, Results, Searcher, SearchOptions } from '../after.ts';

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const { texts, matrix, dim } = corpus;
  const n = opts.shards;
  const parts = Array.from({ length: n }, () => [] as number[]);
  for (let label = 0; label < texts.length; label++) parts[shardOf(label, n)].push(label);
  const workers = await Promise.all(parts.map(() => ShardWorker.start()));
  await Promise.all(
    workers.map((w, s) => {
      const labels = Int32Array.from(parts[s]);
      return w.load({ labels, texts: parts[s].map((l) => texts[l]), vectors: { matrix, dim, rows: labels } });
    }),
  );
  return {
    shards: n,
    async search(query, k) {
      const answers = await Promise.all(workers.map((w) => w.search({ k, tokens: query.tokens, vector: query.vector })));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
