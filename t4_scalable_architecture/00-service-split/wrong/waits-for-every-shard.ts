/**
 * Wrong (on purpose): partial answers done right (`Promise.allSettled`, failures listed in `missingShards`), but no
 * deadline on the shard calls. A shard that is down fails fast and is left out; a shard that accepts the call and
 * never answers (a stuck process, a GC pause, a full queue) holds every query until the client gives up.
 *
 * What differs from after.ts: the calls carry the client's signal only, no `deadlineMs`.
 *
 * @rejected-with waited for a shard that does not answer until the client gave up
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
  const settled = await Promise.allSettled(shards.map((s) => s.call<ShardSearchReply>('search', req, { signal: opts.signal })));
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
