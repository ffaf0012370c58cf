/**
 * Wrong (on purpose): the budget is propagated and degradation flagged, but the shards are called directly, with no
 * bound on calls in flight. A slow shard collects one call per request, all in flight at once (a socket, a request
 * held open until its budget runs out, memory), so under load it holds every request the gateway has until the
 * gateway's own capacity (`maxInFlight`) is spent on waiting for it, and new requests are shed though the other
 * shards are idle. (The embedder keeps its bulkhead here.)
 *
 * What differs from after.ts: no `withBulkhead` around the shards (its `shardHeads` part swapped, the rest is after's).
 *
 * @rejected-with calls in flight to the slow shard 1 at once, bulkhead bound 4
 */
import { retrieverWith, type RetrieverFactory } from '../../../shared/services/gateway.ts';

export type { RetrieveRequest, Retrieved, Retriever, RetrieverOptions } from '../../../shared/services/gateway.ts';

// each shard called directly: no bound on calls in flight to it (everything else as after.ts)
export const createRetriever: RetrieverFactory = retrieverWith({ shardHeads: (shards) => [...shards] });
