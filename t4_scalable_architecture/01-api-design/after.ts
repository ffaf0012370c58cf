/**
 * AFTER: the same page in one request and three store look-ups, with a boundary that holds under concurrent writes.
 *
 *   - **Keyset cursor.** A page is "the ids after the last one you saw", not "from row 40": the cursor carries that
 *     id, signed and scoped to the listing (shared/services/cursor.ts), so documents added or removed before the
 *     boundary do not move it. A cursor the service did not make, or made for another listing, is refused with 400
 *     problem+json (GraphQL: BAD_USER_INPUT) before the store is asked.
 *   - **Batched look-ups.** Each hit's document and chunks resolve through DataLoaders made per request: the 20
 *     `load(id)` calls of one tick become one `getDocuments(ids)` and one `getChunks(ids)`; the per-request cache
 *     never serves a later request.
 *   - **One round trip.** The client asks for the whole page, rows and all, in one GraphQL query (REST gives the same
 *     with `include=document,chunks`): the N + 1 requests become 1.
 *
 * The resolver layer and both transports are the engine's (shared/services/results-api.ts,
 * `createBatchedResolvers`), so REST and GraphQL share them.
 */
import type { DocStore } from '../../shared/services/doc-store.ts';
import { createBatchedResolvers, fetchPageGraphQL, type ApiClient, type PageArgs, type ResultsPage, type ResultsResolvers } from '../../shared/services/results-api.ts';

export type { DocStore } from '../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../shared/services/results-api.ts';

/** The server side: how a page of ids is found and how each hit's document and chunks are fetched. */
export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  return createBatchedResolvers(store) as ResultsResolvers<unknown>;
}

/** The client side: one page of rows (each hit with its document and chunks), as the results page shows it. */
export function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  return fetchPageGraphQL(client, args);
}
