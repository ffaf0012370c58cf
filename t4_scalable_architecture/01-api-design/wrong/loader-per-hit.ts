/**
 * Wrong (on purpose): DataLoader is used, but a new one is made for every field it loads. A loader batches the
 * `load` calls made on *it* within one tick; a loader per hit has one call to batch, so every hit is still its own
 * store look-up: 1 + 2 × 20 look-ups per page, the N + 1 pattern behind a batching library.
 *
 * What differs from after.ts: the loaders are made inside `document` and `chunks`, not once per request in `context`.
 *
 * @rejected-with store look-ups for a page of 10 hits
 */
import DataLoader from 'dataloader';
import type { DocStore } from '../../../shared/services/doc-store.ts';
import { CHUNKS_PER_ROW, createBatchedResolvers, fetchPageGraphQL, type ApiClient, type PageArgs, type ResultsPage, type ResultsResolvers } from '../../../shared/services/results-api.ts';

export type { DocStore } from '../../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../../shared/services/results-api.ts';

export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  const batched = createBatchedResolvers(store);
  return {
    context: () => ({}),
    page: (args) => batched.page(args, batched.context()),
    document: (id) => new DataLoader(async (ids: readonly string[]) => (await store.getDocuments(ids)).map((d) => d ?? null)).load(id),
    chunks: (id) => new DataLoader((ids: readonly string[]) => store.getChunks(ids, CHUNKS_PER_ROW)).load(id),
  };
}

export function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  return fetchPageGraphQL(client, args);
}
