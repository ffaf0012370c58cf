/**
 * Wrong (on purpose): the cursor is opaque and signed, the look-ups are batched and the page is one GraphQL request,
 * but what the cursor carries is an offset ("from row 40"). Opaque is not the point: the position is. When documents
 * are added before the boundary the rows shift and the next page starts on a row already shown; when some are
 * removed, it starts past rows never shown.
 *
 * What differs from after.ts: `page` lists from an offset kept in the cursor instead of after the last id seen.
 *
 * @rejected-with appeared twice
 */
import { CursorCodec } from '../../../shared/services/cursor.ts';
import type { DocStore } from '../../../shared/services/doc-store.ts';
import { createBatchedResolvers, fetchPageGraphQL, pageScope, type ApiClient, type PageArgs, type ResultsPage, type ResultsResolvers } from '../../../shared/services/results-api.ts';

export type { DocStore } from '../../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../../shared/services/results-api.ts';

export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  const batched = createBatchedResolvers(store);
  const cursors = new CursorCodec();
  return {
    ...batched,
    async page(args) {
      const scope = pageScope(args);
      const offset = args.after === undefined ? 0 : Number(cursors.decode(args.after, scope).after);
      const { ids, more } = await store.list({ first: args.first, offset, genre: args.genre });
      return { ids, hasNextPage: more, endCursor: ids.length === 0 ? null : cursors.encode({ after: String(offset + ids.length), scope }) };
    },
  } as ResultsResolvers<unknown>;
}

export function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  return fetchPageGraphQL(client, args);
}
