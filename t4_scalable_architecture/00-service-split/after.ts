/**
 * The gateway's fan-out (the engine's copy is `searchShards` in shared/services/gateway.ts, which the gateway runs):
 *
 * - **Collection statistics with every query.** A shard alone knows only its own N, lengths and document
 *   frequencies; BM25 scored with those does not rank like one index. The gateway asked every shard for its
 *   statistics once (`stats`), summed them, and sends those of the query's terms with each search.
 * - **All shards at once, each with its own deadline.** Every shard gets the query before any answer is awaited,
 *   and every call carries `deadlineMs`: a shard that is down fails at once (connection refused), one that hangs is
 *   given up at the deadline. Nobody waits for a shard that will not answer.
 * - **What is missing is said.** A shard that failed or ran out of time is left out and listed in `missingShards`:
 *   the gateway answers `partial: true` instead of a 5xx, and a complete answer is never confused with a partial one.
 * - **Merge by score.** Each shard returns its own k best; the lists are merged by score, ties to the lower label
 *   (`mergeTopK`), the order one index returns. On a full set of shards the answer equals the monolith's.
 */
import { mergeTopK, queryStats } from '../../shared/index/sharded.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../../shared/services/gateway.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../shared/services/shard-service.ts';
import type { ScoredLabel } from '../../shared/types.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../../shared/services/gateway.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  // the collection's statistics of the query's terms travel with it: every shard scores BM25 as the whole would
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) {
    req.tokens = [...query.tokens];
    req.stats = { docs: opts.stats.docs, totalLength: opts.stats.totalLength, df: [...queryStats(opts.stats, query.tokens).df] };
  }
  if (query.vector) req.vector = Array.from(query.vector);
  // every shard at once, each call with its own deadline; allSettled: one failure does not reject the others
  const settled = await Promise.allSettled(
    shards.map((s) => s.call<ShardSearchReply>('search', req, { deadlineMs: opts.deadlineMs, signal: opts.signal })),
  );
  const texts: ScoredLabel[][] = [];
  const denses: ScoredLabel[][] = [];
  const chunks = new Map<number, ChunkView>();
  const missingShards: number[] = [];
  const errors: string[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'rejected') {
      // left out, and said so
      missingShards.push(i);
      errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
      return;
    }
    texts.push(r.value.text);
    denses.push(r.value.dense);
    for (const [label, c] of Object.entries(r.value.chunks)) chunks.set(Number(label), c);
  });
  // by score, ties to the lower label: the order one index returns
  return { text: mergeTopK(texts, opts.k), dense: mergeTopK(denses, opts.k), chunks, missingShards, errors };
}
