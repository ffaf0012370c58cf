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
import { retrieverWith, type RetrieverFactory } from '../../../shared/services/gateway.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = retrieverWith({
  // one bulkhead for every shard: a call names its shard and the pool routes it (everything else as after.ts)
  shardHeads: (shards, o) => {
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
    return shards.map((s, shard): RpcClient => ({ target: s.target, call: (m, req, c) => pool.call(m, { shard, req }, c), close: async () => {} }));
  },
});
