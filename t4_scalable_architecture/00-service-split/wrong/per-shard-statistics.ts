/**
 * Wrong (on purpose): every shard at once with a deadline, the partial flag, merge by score — but the query goes out
 * without the collection's statistics, so each shard scores BM25 with its own N, average length and document
 * frequencies. A term rare in one shard and common in another gets two idfs; the scores merged by `mergeTopK` are on
 * different scales and the merged ranking is not the monolith's.
 *
 * What differs from after.ts: no `stats` in the request.
 *
 * @rejected-with scored with its own statistics
 */
import { mergeTopK } from '../../../shared/index/sharded.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../../shared/services/shard-service.ts';
import type { ScoredLabel } from '../../../shared/types.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from '../after.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) req.tokens = [...query.tokens]; // each shard knows its own statistics…
  if (query.vector) req.vector = Array.from(query.vector);
  const settled = await Promise.allSettled(shards.map((s) => s.call<ShardSearchReply>('search', req, { deadlineMs: opts.deadlineMs, signal: opts.signal })));
  const texts: ScoredLabel[][] = [];
  const denses: ScoredLabel[][] = [];
  const chunks = new Map<number, ChunkView>();
  const missingShards: number[] = [];
  const errors: string[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'rejected') {
      missingShards.push(i);
      errors.push(String(r.reason));
      return;
    }
    texts.push(r.value.text);
    denses.push(r.value.dense);
    for (const [label, c] of Object.entries(r.value.chunks)) chunks.set(Number(label), c);
  });
  return { text: mergeTopK(texts, opts.k), dense: mergeTopK(denses, opts.k), chunks, missingShards, errors };
}
