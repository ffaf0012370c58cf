/**
 * Wrong (on purpose): every shard at once with a deadline, collection statistics, merge by score, and a failed
 * shard left out — silently. The answer looks complete and is not: a client cannot tell "nothing else matches" from
 * "half the index did not answer", and a cache in front of the gateway would keep the half answer as the answer.
 *
 * What differs from after.ts: failures are dropped instead of listed in `missingShards`.
 *
 * @rejected-with did not say so
 */
import { mergeTopK, queryStats } from '../../../shared/index/sharded.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../../shared/services/shard-service.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) {
    req.tokens = [...query.tokens];
    req.stats = { docs: opts.stats.docs, totalLength: opts.stats.totalLength, df: [...queryStats(opts.stats, query.tokens).df] };
  }
  if (query.vector) req.vector = Array.from(query.vector);
  const settled = await Promise.allSettled(shards.map((s) => s.call<ShardSearchReply>('search', req, { deadlineMs: opts.deadlineMs, signal: opts.signal })));
  const texts: ScoredLabel[][] = [];
  const denses: ScoredLabel[][] = [];
  const chunks = new Map<number, ChunkView>();
  for (const r of settled) {
    if (r.status === 'rejected') continue; // a shard that failed: just use the others
    texts.push(r.value.text);
    denses.push(r.value.dense);
    for (const [label, c] of Object.entries(r.value.chunks)) chunks.set(Number(label), c);
  }
  return { text: mergeTopK(texts, opts.k), dense: mergeTopK(denses, opts.k), chunks, missingShards: [], errors: [] };
}
