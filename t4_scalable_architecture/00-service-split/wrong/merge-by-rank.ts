/**
 * Wrong (on purpose): fan-out, deadlines, statistics and the partial flag as in after.ts, but the shards' lists are
 * interleaved by rank (the first of each shard, then the second of each…) instead of merged by score. Rank 1 of one
 * shard can score lower than rank 3 of another: the merged list is neither ordered nor, beyond the first hits, the
 * right set.
 *
 * What differs from after.ts: `interleave` instead of `mergeTopK`.
 *
 * @rejected-with merged by rank, not by score
 */
import { searchShards as engineFanOut } from '../../../shared/services/gateway.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

/** Round robin over the lists: rank 1 of every shard, then rank 2 of every shard, … */
function interleave(lists: ScoredLabel[][], k: number): ScoredLabel[] {
  const out: ScoredLabel[] = [];
  for (let rank = 0; out.length < k && lists.some((l) => rank < l.length); rank++) {
    for (const l of lists) if (rank < l.length && out.length < k) out.push(l[rank]);
  }
  return out;
}

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  // each shard on its own (the engine's fan-out over one shard gives that shard's list), then interleaved
  const per = await Promise.all(shards.map((s) => engineFanOut([s], query, opts)));
  const chunks = new Map(per.flatMap((r) => [...r.chunks]));
  const missingShards = per.flatMap((r, i) => (r.missingShards.length > 0 ? [i] : []));
  return {
    text: interleave(per.map((r) => r.text), opts.k),
    dense: interleave(per.map((r) => r.dense), opts.k),
    chunks,
    missingShards,
    errors: per.flatMap((r) => r.errors),
  };
}
