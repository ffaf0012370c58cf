/**
 * Wrong (on purpose): a keyset cursor (the last id seen, base64url JSON) that is decoded and used as it comes. A
 * cursor that is not one the service made answers 500 (its JSON does not parse) or, worse, 200 with a page from
 * wherever the client pointed (an edited id, a cursor of another listing, `{}`: back to page one). A cursor is input:
 * it is checked (signed, scoped to its listing) and refused with 400 before anything reads it.
 *
 * What differs from after.ts: no signature, no scope, no checks; `JSON.parse` of whatever came.
 *
 * @rejected-with not a 400 problem+json
 */
import type { DocStore } from '../../../shared/services/doc-store.ts';
import { createBatchedResolvers, fetchPageGraphQL, type ApiClient, type PageArgs, type ResultsPage, type ResultsResolvers } from '../../../shared/services/results-api.ts';

export type { DocStore } from '../../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../../shared/services/results-api.ts';

export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  const batched = createBatchedResolvers(store);
  return {
    ...batched,
    async page(args) {
      const afterId = args.after === undefined ? undefined : (JSON.parse(Buffer.from(args.after, 'base64url').toString('utf8')) as { after: string }).after;
      const { ids, more } = await store.list({ first: args.first, afterId, genre: args.genre });
      const last = ids.at(-1);
      return { ids, hasNextPage: more, endCursor: last === undefined ? null : Buffer.from(JSON.stringify({ after: last })).toString('base64url') };
    },
  } as ResultsResolvers<unknown>;
}

export function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  return fetchPageGraphQL(client, args);
}
