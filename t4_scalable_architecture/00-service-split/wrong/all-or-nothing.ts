/**
 * Wrong (on purpose): statistics, fan-out and merge as in after.ts, but the shards are awaited with `Promise.all`: the
 * first shard that fails rejects the whole query, which the gateway then answers with a 5xx. The monolith's
 * all-or-nothing, carried into a system whose point is that one part can fail alone.
 *
 * What differs from after.ts: `Promise.all` instead of `Promise.allSettled` (and so no `missingShards`).
 *
 * @rejected-with a dead shard failed the whole query
 */
import { mergeTopK, queryStats } from '../../../shared/index/sharded.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../../shared/services/shard-service.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) {
    req.tokens = [...query.tokens];
    req.stats = { docs: opts.stats.docs, totalLength: opts.stats.totalLength, df: [...queryStats(opts.stats, query.tokens).df] };
  }
  if (query.vector) req.vector = Array.from(query.vector);
  const answers = await Promise.all(shards.map((s) => s.call<ShardSearchReply>('search', req, { deadlineMs: opts.deadlineMs, signal: opts.signal })));
  const chunks = new Map<number, ChunkView>();
  for (const a of answers) for (const [label, c] of Object.entries(a.chunks)) chunks.set(Number(label), c);
  return { text: mergeTopK(answers.map((a) => a.text), opts.k), dense: mergeTopK(answers.map((a) => a.dense), opts.k), chunks, missingShards: [], errors: [] };
}
