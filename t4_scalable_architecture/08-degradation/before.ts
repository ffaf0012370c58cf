/**
 * 08-degradation, before: the gateway's retrieval as t4/00 left it. Each hop has its own fixed timeout, whatever
 * the client has left: the embed call gets `embedDeadlineMs`, then every shard gets `shardDeadlineMs` again, so a
 * slow embedder plus a slow shard take up to 2 s for a client that waits 1 s. No bulkheads: a slow shard collects
 * every request's call to it (one per request, all in flight at once) and holds each request for its whole timeout.
 * An embedder that fails fails the request (the gateway answers 503), though BM25 alone could have answered.
 *
 * A missing shard is already flagged (`partial`, t4/00); here `degraded` says it too.
 */
import { embedQuery, type DegradedReason, type RetrieverFactory, type ShardQueryInput } from '../../shared/services/gateway.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = (shards, embedder, o) => ({
  async retrieve(req) {
    const query: ShardQueryInput = {};
    const timings: { embed?: number; fanout: number } = { fanout: 0 };
    if (req.mode !== 'bm25') {
      const t = o.now();
      // a fixed timeout of its own, and an error is the request's error
      const v = await embedQuery(embedder, req.text, { deadlineMs: o.embedDeadlineMs, signal: req.signal });
      if (v) query.vector = v;
      timings.embed = o.now() - t;
    }
    if (req.mode !== 'dense' && req.tokens.length > 0) query.tokens = req.tokens;
    const t = o.now();
    // the full per-shard timeout again, every shard called directly (no bound on calls in flight to it)
    const r = await o.fanOut(shards, query, { k: req.k, stats: req.stats, deadlineMs: o.shardDeadlineMs, signal: req.signal });
    timings.fanout = o.now() - t;
    const degraded: DegradedReason[] = r.missingShards.length > 0 ? ['shards-missing'] : [];
    return { ...r, mode: req.mode, degraded, timings };
  },
  close: async () => {
    await Promise.all([...shards, embedder].map((c) => c.close()));
  },
});
