/**
 * 08-degradation, after: the engine's retrieval (`createRetriever`, shared/services/gateway.ts).
 *
 * - **One budget, propagated**: the request's deadline is one clock. The embed call gets at most `embedShare` of
 *   what is left (less `replyReserveMs`), each shard what is left after that: no hop is sent more time than the
 *   client has, and the answer leaves before the client stops waiting.
 * - **Degrade, flagged**: an embedder that fails, is too slow for its share or whose bulkhead is full → BM25 only
 *   (`degraded: ['bm25-only']`); a shard missing → `partial`, `missingShards`, `degraded: ['shards-missing']`. The
 *   flag is set exactly when something was left out.
 * - **Bulkheads**: each shard and the embedder behind their own `withBulkhead` (shared/services/bulkhead.ts):
 *   at most `maxPerShard` calls in flight to one shard, `maxQueue` waiting, the rest refused at once; a slow
 *   shard fills its own bulkhead and is left out, the others answer.
 */
export { createRetriever } from '../../shared/services/gateway.ts';
export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../shared/services/gateway.ts';
