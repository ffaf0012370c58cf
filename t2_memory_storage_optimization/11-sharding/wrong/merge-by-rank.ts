/**
 * Wrong (on purpose): shards, statistics and fan-out as in after.ts, but the shards' lists are interleaved by rank
 * (the first of each shard, then the second of each…) instead of merged by score. Rank 1 of one shard can score lower
 * than rank 3 of another: the merged list is neither ordered nor, beyond the first hits, the right set.
 *
 * What differs from after.ts: the merge (`interleave` instead of `mergeTopK`); the shards (`startShards`), the
 * statistics and the fan-out are after.ts's.
 *
 * @rejected-with merged by rank, not by score
 */
import { collectionStats, queryStats } from '../../../shared/index/sharded.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import { startShards, type Corpus, type Searcher, type SearchOptions } from '../after.ts';

export { startShards, type Corpus, type Query, type Results, type Searcher, type SearchOptions } from '../after.ts';

/** Round robin over the lists: rank 1 of every shard, then rank 2 of every shard, … */
function interleave(lists: ScoredLabel[][], k: number): ScoredLabel[] {
  const out: ScoredLabel[] = [];
  for (let rank = 0; out.length < k; rank++) {
    let any = false;
    for (const list of lists) {
      if (rank < list.length && out.length < k) {
        out.push(list[rank]);
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

export async function openSearcher(corpus: Corpus, opts: SearchOptions): Promise<Searcher> {
  const workers = await startShards(corpus, opts.shards);
  const stats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));
  return {
    shards: opts.shards,
    async search(query, k) {
      const req = { k, tokens: query.tokens, stats: queryStats(stats, query.tokens), vector: query.vector };
      const answers = await Promise.all(workers.map((w) => w.search(req)));
      return { text: interleave(answers.map((a) => a.text), k), dense: interleave(answers.map((a) => a.dense), k) };
    },
    close: async () => void (await Promise.all(workers.map((w) => w.close()))),
  };
}
