/**
 * Wrong (on purpose): the DataLoaders are made once, for the whole server, so they batch across requests, and their
 * cache too: a document loaded by one request is served from the loader's memory to every later one, whatever was
 * written since. DataLoader's cache is a per-request memo (the same id asked twice in one query is fetched once),
 * not a results cache: made per request, it cannot serve a stale row.
 *
 * What differs from after.ts: `context` hands out the same two loaders to every request.
 *
 * @rejected-with a DataLoader's cache must not outlive the request
 */
import type { DocStore } from '../../../shared/services/doc-store.ts';
import { createBatchedResolvers, fetchPageGraphQL, type ApiClient, type PageArgs, type ResultsPage, type ResultsResolvers } from '../../../shared/services/results-api.ts';

export type { DocStore } from '../../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../../shared/services/results-api.ts';

export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  const batched = createBatchedResolvers(store);
  const shared = batched.context();
  return { ...batched, context: () => shared } as ResultsResolvers<unknown>;
}

export function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  return fetchPageGraphQL(client, args);
}
