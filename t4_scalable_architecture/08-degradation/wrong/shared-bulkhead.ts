/**
 * Wrong (on purpose): a bulkhead, but one for all the shards: `maxPerShard` calls in flight to the shards together.
 * The budget is propagated and degradation flagged. When one shard is slow its calls stay in flight and take the
 * slots one by one; soon every slot holds a call to the slow shard, and the healthy shards' calls are refused: the
 * bulkhead that should have walled off the slow shard lets it starve the others, and every answer is partial.
 *
 * What differs from after.ts: one `withBulkhead` shared by every shard instead of one per shard.
 *
 * @rejected-with the slow shard 1's calls took the slots of the healthy shards
 */
import { withBulkhead } from '../../../shared/services/bulkhead.ts';
import { embedQuery, type DegradedReason, type RetrieverFactory, type ShardQueryInput } from '../../../shared/services/gateway.ts';
import { isRpcError, type RpcClient } from '../../../shared/services/rpc.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = (shards, embedder, o) => {
  // one bulkhead for every shard: a call names its shard and the pool routes it
  const pool = withBulkhead(
    {
      target: 'all shards',
      call: (m, r, c) => {
        const { shard, req } = r as { shard: number; req: unknown };
        return shards[shard].call(m, req, c);
      },
      close: async () => {},
    },
    { maxConcurrent: o.maxPerShard, maxQueue: o.maxQueue, now: o.now },
  );
  const heads: RpcClient[] = shards.map((s, shard) => ({ target: s.target, call: (m, req, c) => pool.call(m, { shard, req }, c), close: async () => {} }));
  const embed = withBulkhead(embedder, { maxConcurrent: o.maxToEmbedder, maxQueue: o.maxQueue, now: o.now });
  return {
    async retrieve(req) {
      const degraded: DegradedReason[] = [];
      let mode = req.mode;
      const query: ShardQueryInput = {};
      const t0 = o.now();
      if (mode !== 'bm25') {
        try {
          const v = await embedQuery(embed, req.text, { deadlineMs: Math.min(o.embedDeadlineMs, (req.deadline - o.replyReserveMs - o.now()) * o.embedShare), signal: req.signal });
          if (v) query.vector = v;
        } catch (err) {
          if (req.signal?.aborted || isRpcError(err, 'INVALID_ARGUMENT')) throw err;
          mode = 'bm25';
          degraded.push('bm25-only');
        }
      }
      const embedMs = o.now() - t0;
      if (mode !== 'dense' && req.tokens.length > 0) query.tokens = req.tokens;
      const t = o.now();
      const r = await o.fanOut(heads, query, { k: req.k, stats: req.stats, deadlineMs: Math.min(o.shardDeadlineMs, req.deadline - o.replyReserveMs - o.now()), signal: req.signal });
      if (r.missingShards.length > 0) degraded.push('shards-missing');
      return { ...r, mode, degraded, timings: { embed: embedMs, fanout: o.now() - t } };
    },
    close: async () => {
      await Promise.all([...shards, embedder].map((c) => c.close()));
    },
  };
};
