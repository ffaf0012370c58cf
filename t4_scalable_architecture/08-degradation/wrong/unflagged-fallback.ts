/**
 * Wrong (on purpose): the budget is propagated and the bulkheads are there, and an embedder that fails is answered
 * BM25 only, but nothing says so: `degraded` stays empty and `mode` still says hybrid. The client cannot tell a
 * BM25-only answer from a full one: it caches it, ranks with it, reports its quality as the engine's. Degrading
 * without the flag is a silent wrong answer, worse than a 503 the client could have retried.
 *
 * What differs from after.ts: the fallback sets neither `degraded` nor `mode`.
 *
 * @rejected-with a degraded answer must be flagged
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
      const mode = req.mode;
      let embedFailed = false;
      const query: ShardQueryInput = {};
      const t0 = o.now();
      if (mode !== 'bm25') {
        try {
          const v = await embedQuery(embed, req.text, { deadlineMs: Math.min(o.embedDeadlineMs, (req.deadline - o.replyReserveMs - o.now()) * o.embedShare), signal: req.signal });
          if (v) query.vector = v;
        } catch (err) {
          if (req.signal?.aborted || isRpcError(err, 'INVALID_ARGUMENT')) throw err;
          embedFailed = true; // BM25 only, quietly: the shards get the terms and no vector
        }
      }
      const embedMs = o.now() - t0;
      const left = () => req.deadline - o.replyReserveMs - o.now();
      if ((mode !== 'dense' || embedFailed) && req.tokens.length > 0) query.tokens = req.tokens;
      const t = o.now();
      const r = await o.fanOut(heads, query, { k: req.k, stats: req.stats, deadlineMs: Math.min(o.shardDeadlineMs, left()), signal: req.signal });
      if (r.missingShards.length > 0) degraded.push('shards-missing');
      return { ...r, mode, degraded, timings: { embed: embedMs, fanout: o.now() - t } };
    },
    close: async () => {
      await Promise.all([...shards, embedder].map((c) => c.close()));
    },
  };
};
