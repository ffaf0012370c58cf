/**
 * EXERCISE 00-service-split — the gateway's fan-out: send a query to every retriever shard and make one answer of
 * what comes back, when every shard answers and when one does not.
 *
 * As shipped it is the loop that worked when the shards were objects in the same process: it asks one shard, waits,
 * asks the next, lets each score with whatever it knows, glues the lists together, and lets any failure fail the
 * query. The checkpoint rejects it. What must hold (checked by `npm run checkpoint -- 00-service-split`):
 *
 *   - on a full set of shards (2 and 3), the BM25 and dense lists equal the monolith's exactly: chunks and scores,
 *     best first, equal scores to the lower label;
 *   - every shard is asked at the same time, each for the full k;
 *   - a shard that is down does not fail the query: the answer holds what the others hold, and `missingShards` says
 *     which shard is not in it;
 *   - a shard that accepts the call and never answers is given up after `opts.deadlineMs`, not when the client gives
 *     up, and is listed in `missingShards` too.
 *
 * The decisions are yours: what a shard must be told to score BM25 as the whole collection would (`opts.stats` holds
 * the collection's statistics; shared/index/sharded.ts has the pieces), how long to wait and for whom, what to do with
 * a shard that failed, and how lists from different shards become one. A shard is an `RpcClient`
 * (shared/services/rpc.ts): `call('search', request, {deadlineMs, signal})`; its request and reply are
 * `ShardSearchRequest` / `ShardSearchReply` in shared/services/shard-service.ts.
 *
 * Measure yours beside the monolith and the engine's gateway: npm run t4 -- --only 00-service-split --impl exercise --quick
 * Stuck? npm run hint -- 00-service-split
 */
import type { RpcClient } from '../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../shared/services/shard-service.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../../shared/services/gateway.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../../shared/services/gateway.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  // TODO: every shard at once, each with a deadline; the collection's statistics; failures listed, not thrown;
  // one list made of several the way one index would rank them.
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) req.tokens = [...query.tokens];
  if (query.vector) req.vector = Array.from(query.vector);
  const text: ScoredLabel[] = [];
  const dense: ScoredLabel[] = [];
  const chunks = new Map<number, ChunkView>();
  for (const shard of shards) {
    const a = await shard.call<ShardSearchReply>('search', req, { signal: opts.signal });
    text.push(...a.text);
    dense.push(...a.dense);
    for (const [label, c] of Object.entries(a.chunks)) chunks.set(Number(label), c);
  }
  return { text: text.slice(0, opts.k), dense: dense.slice(0, opts.k), chunks, missingShards: [], errors: [] };
}
