/**
 * Wrong (on purpose): correct shards, statistics and merge, but the query goes to one shard, waits for its answer,
 * then goes to the next. The results are exact; the latency is the sum of the shards' times plus a round trip each,
 * which is no faster than one index and usually slower: the threads never work at the same time.
 *
 * What differs from after.ts: a loop of awaits instead of sending every request before waiting for any.
 *
 * @rejected-with shards searched at once
 */
import { collectionStats, mergeTopK, queryStats, shardOf, ShardWorker, type ShardHits } from '../../../shared/index/sharded.ts';
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
      const req = { k, tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers: ShardHits[] = [];
      for (const w of workers) answers.push(await w.search(req));
      return { text: mergeTopK(answers.map((a) => a.text), k), dense: mergeTopK(answers.map((a) => a.dense), k) };
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
