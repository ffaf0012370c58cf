/**
 * Wrong (on purpose): after.ts's build beside and one-assignment swap, but the request handler reads the shared
 * reference twice: once to query the engine, and again after the query's await to name the version. A request in
 * flight when the swap happens was answered by the old engine and is labelled with the new version: a response that
 * mixes the two indexes (a client caching by version, or checking what changed, is now wrong). The swap is atomic;
 * the request's view of it is not.
 *
 * What differs from after.ts: the /query handler (`query` of ServiceParts: reads `live` again after the await
 * instead of once into a local); the build beside, the swap and the service are after.ts's.
 *
 * @rejected-with a query in flight during the swap
 */
import type { Doc } from '../../../shared/types.ts';
import { startService as startAfter, type HotService, type ServiceOptions } from '../after.ts';
import { toResponse, type Live, type QueryBody } from '../service.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

async function readTwice(live: () => Live, body: QueryBody) {
  const result = await live().engine.query(body.q, { k: body.k ?? 10, answer: false });
  return toResponse(live().version, result); // the mistake: `live` read again, and it may have been swapped meanwhile
}

export function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  return startAfter(docs, version, opts, { query: readTwice });
}
