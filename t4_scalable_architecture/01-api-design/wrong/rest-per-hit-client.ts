/**
 * Wrong (on purpose): the server is after.ts's (keyset cursors, per-request DataLoaders), but the client still asks
 * for the list and then for each hit's document and chunks, one request each. Each of those requests is its own
 * request context with its own loaders, so there is nothing to batch: 1 + 2 × 10 requests and as many store
 * look-ups per page. Batching on the server pays only when the client asks for the page in one request.
 *
 * What differs from after.ts: `fetchPage` is before.ts's.
 *
 * @rejected-with requests for a page of 10 hits
 */
import type { DocStore } from '../../../shared/services/doc-store.ts';
import { createBatchedResolvers, type ResultsResolvers } from '../../../shared/services/results-api.ts';

export type { DocStore } from '../../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../../shared/services/results-api.ts';
export { fetchPage } from '../before.ts';

export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  return createBatchedResolvers(store) as ResultsResolvers<unknown>;
}
