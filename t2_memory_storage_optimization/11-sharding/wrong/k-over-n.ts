/**
 * Wrong (on purpose): "two shards, so each returns half of the top 10". Everything else is after.ts's, the merge by
 * score included. But the 10 best are not spread evenly: when 7 of them live in one shard, that shard's 6th and 7th
 * are never returned and weaker hits from the other shard take their places.
 *
 * What differs from after.ts: each shard is asked for ⌈k / shards⌉ hits instead of k.
 *
 * @rejected-with can live in one shard
 */
import { collectionStats, mergeTopK, queryStats, shardOf, ShardWorker } from '../../../shared/index/sharded.ts';
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
  const stats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));
  return {
    shards: n,
    async search(query, k) {
      const perShard = Math.ceil(k / n);
      const req = { k: perShard, tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers = await Promise.all(workers.map((w) => w.search(req)));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
