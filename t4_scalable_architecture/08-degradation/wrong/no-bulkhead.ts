/**
 * Wrong (on purpose): the budget is propagated and degradation flagged, but the shards are called directly, with no
 * bound on calls in flight. A slow shard collects one call per request, all in flight at once (a socket, a request
 * held open until its budget runs out, memory), so under load it holds every request the gateway has until the
 * gateway's own capacity (`maxInFlight`) is spent on waiting for it, and new requests are shed though the other
 * shards are idle. (The embedder keeps its bulkhead here.)
 *
 * What differs from after.ts: no `withBulkhead` around the shards.
 *
 * @rejected-with calls in flight to the slow shard 1 at once, bulkhead bound 4
 */
import { withBulkhead } from '../../../shared/services/bulkhead.ts';
import { embedQuery, type DegradedReason, type RetrieverFactory, type ShardQueryInput } from '../../../shared/services/gateway.ts';
import { isRpcError } from '../../../shared/services/rpc.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = (shards, embedder, o) => {
  const heads = shards; // each shard called directly: no bound on calls in flight to it
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
