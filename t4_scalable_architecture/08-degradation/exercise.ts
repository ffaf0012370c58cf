/**
 * EXERCISE 08-degradation: answer within the client's budget, degrade instead of failing (and say so), and keep a
 * slow shard from holding every request.
 *
 * As shipped it is before.ts: every hop gets its own fixed timeout (embed `embedDeadlineMs`, then each shard
 * `shardDeadlineMs` again), every shard is called directly with no bound on calls in flight, and an embedder error
 * fails the request.
 *
 * `createRetriever(shards, embedder, opts)` returns the gateway's retrieval (`Retriever`, shared/services/gateway.ts):
 * `retrieve({ text, tokens, mode, k, stats, deadline, signal })` embeds the query (unless bm25), sends it to every
 * shard with `opts.fanOut` (t4/00's `searchShards`) and returns the merged lists, `missingShards`, the `mode` the
 * lists were built for and `degraded`. `deadline` is when the client stops waiting, on `opts.now()`'s clock (use
 * it: the checkpoint's clock is virtual). Yours to decide: how much time each hop is given, what happens when the
 * embedder cannot help, and how many calls may be in flight to one shard.
 *
 * What must hold (checked by `npm run checkpoint -- 08-degradation`: budgets, flags and calls in flight counted):
 *   - no hop is sent a call with more budget than the client has left (deadline − now), nor one with none left;
 *   - the embedder down or too slow: the answer is BM25 only (`mode: 'bm25'`), flagged `degraded: ['bm25-only']`;
 *     a shard missing: `degraded` has 'shards-missing'; nothing left out: `degraded` is empty;
 *   - at most `opts.maxPerShard` calls in flight to any one shard (and `opts.maxToEmbedder` to the embedder), at
 *     most `opts.maxQueue` waiting; a call refused by a full bulkhead leaves that shard out of this answer, and the
 *     other shards keep answering every request.
 *
 * shared/services/bulkhead.ts has `withBulkhead`.
 *
 * Then measure availability and p99 with a slow shard and a dead embedder beside before and after:
 *   npm run t4 -- --only 08-degradation --impl exercise --quick
 * Stuck? npm run hint -- 08-degradation
 */
import { embedQuery, type DegradedReason, type RetrieverFactory, type ShardQueryInput } from '../../shared/services/gateway.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../shared/services/gateway.ts';

export const createRetriever: RetrieverFactory = (shards, embedder, o) => ({
  async retrieve(req) {
    const query: ShardQueryInput = {};
    const timings: { embed?: number; fanout: number } = { fanout: 0 };
    if (req.mode !== 'bm25') {
      const t = o.now();
      const v = await embedQuery(embedder, req.text, { deadlineMs: o.embedDeadlineMs, signal: req.signal });
      if (v) query.vector = v;
      timings.embed = o.now() - t;
    }
    if (req.mode !== 'dense' && req.tokens.length > 0) query.tokens = req.tokens;
    const t = o.now();
    const r = await o.fanOut(shards, query, { k: req.k, stats: req.stats, deadlineMs: o.shardDeadlineMs, signal: req.signal });
    timings.fanout = o.now() - t;
    const degraded: DegradedReason[] = r.missingShards.length > 0 ? ['shards-missing'] : [];
    return { ...r, mode: req.mode, degraded, timings };
  },
  close: async () => {
    await Promise.all([...shards, embedder].map((c) => c.close()));
  },
});
