/**
 * Wrong (on purpose): shards, statistics and fan-out as in after.ts, but the shards' lists are interleaved by rank
 * (the first of each shard, then the second of each…) instead of merged by score. Rank 1 of one shard can score lower
 * than rank 3 of another: the merged list is neither ordered nor, beyond the first hits, the right set.
 *
 * What differs from after.ts: the merge.
 *
 * @rejected-with merged by rank, not by score
 */
import { collectionStats, queryStats, shardOf, ShardWorker } from '../../../shared/index/sharded.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import type { Corpus, Searcher, SearchOptions } from '../after.ts';

export type { Corpus, Query, Results, Searcher, SearchOptions } from '../after.ts';

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
      const answers = await Promise.all(workers.map((w) => w.search(req)));
      return { text: interleave(answers.map((a) => a.text), k), dense: interleave(answers.map((a) => a.dense), k) };
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
