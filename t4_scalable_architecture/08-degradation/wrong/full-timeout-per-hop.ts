/**
 * Wrong (on purpose): bulkheads and flagged degradation, but each hop keeps its own fixed timeout: the embed call
 * gets `embedDeadlineMs`, then every shard gets `shardDeadlineMs` again, whatever the client has left. A slow
 * embedder plus a slow shard add up to more than the client waits: the shards work on requests nobody will read,
 * and the answer, partial or not, arrives after the client gave up (a failure to the client, however well flagged).
 *
 * What differs from after.ts: `deadlineMs` is the per-hop setting, not `deadline − now()`.
 *
 * @rejected-with each hop gets the full timeout again
 */
import { withBulkhead } from '../../../shared/services/bulkhead.ts';
import { embedQuery, type DegradedReason, type RetrieverFactory, type ShardQueryInput } from '../../../shared/services/gateway.ts';
import { isRpcError } from '../../../shared/services/rpc.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = (shards, embedder, o) => {
  const heads = shards.map((s) => withBulkhead(s, { maxConcurrent: o.maxPerShard, maxQueue: o.maxQueue, now: o.now }));
  const embed = withBulkhead(embedder, { maxConcurrent: o.maxToEmbedder, maxQueue: o.maxQueue, now: o.now });
  return {
    async retrieve(req) {
      const degraded: DegradedReason[] = [];
      let mode = req.mode;
      const query: ShardQueryInput = {};
      const t0 = o.now();
      if (mode !== 'bm25') {
        try {
          const v = await embedQuery(embed, req.text, { deadlineMs: o.embedDeadlineMs, signal: req.signal });
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
      const r = await o.fanOut(heads, query, { k: req.k, stats: req.stats, deadlineMs: o.shardDeadlineMs, signal: req.signal });
      if (r.missingShards.length > 0) degraded.push('shards-missing');
      return { ...r, mode, degraded, timings: { embed: embedMs, fanout: o.now() - t } };
    },
    close: async () => {
      await Promise.all([...shards, embedder].map((c) => c.close()));
    },
  };
};
