/**
 * EXERCISE 01-api-design — a results page in one request and a few store look-ups, with a boundary that holds
 * while documents are written.
 *
 * As shipped it is before.ts: the "cursor" is an offset, every hit's document and chunks is its own store look-up,
 * and the client asks for the list and then for each hit's fields, one request each. Its pages are right on a store
 * nobody writes to, so the checkpoint accepts its rows and rejects the rest.
 *
 * `createResolvers(store)` is the server side, shared by REST and GraphQL (shared/services/results-api.ts serves
 * both from it): `context()` is called once per HTTP request, `page(args, ctx)` finds a page of ids and the cursor
 * of the next, `document(id, ctx)` and `chunks(id, ctx)` fetch one hit's fields (GraphQL calls them for every hit
 * of a page in the same tick). `fetchPage(client, args)` is the client side: one page of rows as a results page
 * shows them. Yours to decide: what a cursor carries and how it is checked, where a page's per-hit look-ups become
 * one, and how the client asks for a page.
 *
 * What must hold (checked by `npm run checkpoint -- 01-api-design`, counting requests and store look-ups, never time):
 *   - walking the pages lists every document once, in id order, with the store's title, metadata and first chunks;
 *   - a page of 10 hits costs the client 1 request and the store at most 3 look-ups (the list, the documents, the
 *     chunks), through GraphQL and through REST `include=document,chunks` alike;
 *   - documents added before the page boundary while a client pages do not make a row appear twice, and documents
 *     removed before it do not make one disappear;
 *   - a cursor the service did not make (garbage, edited by the client, made for another listing: genre=news handed
 *     to genre=fiction) is refused with 400 problem+json (REST) or a BAD_USER_INPUT error (GraphQL), and the store
 *     is never asked (throw results-api.ts's InputError);
 *   - a document changed between two requests shows its new fields on the second: nothing cached outlives a request.
 *
 * Then measure time and requests per page beside before and after:
 *   npm run t4 -- --only 01-api-design --impl exercise --quick
 * Stuck? npm run hint -- 01-api-design
 */
import type { DocStore } from '../../shared/services/doc-store.ts';
import { CHUNKS_PER_ROW, expectOk, InputError, resultsPath, type ApiClient, type PageArgs, type ResultRow, type ResultsPage, type ResultsResolvers } from '../../shared/services/results-api.ts';

export type { DocStore } from '../../shared/services/doc-store.ts';
export type { ApiClient, PageArgs, ResultsPage, ResultsResolvers } from '../../shared/services/results-api.ts';

/** The server side: how a page of ids is found and how each hit's document and chunks are fetched. */
export function createResolvers(store: DocStore): ResultsResolvers<unknown> {
  return {
    context: () => ({}),
    async page(args) {
      let offset = 0;
      if (args.after !== undefined) {
        if (!/^\d{1,9}$/.test(args.after)) throw new InputError(`after must be an offset (a whole number), got ${JSON.stringify(args.after)}`);
        offset = Number(args.after);
      }
      const { ids, more } = await store.list({ first: args.first, offset, genre: args.genre });
      return { ids, hasNextPage: more, endCursor: ids.length === 0 ? null : String(offset + ids.length) };
    },
    async document(id) {
      return (await store.getDocuments([id]))[0] ?? null;
    },
    async chunks(id) {
      return (await store.getChunks([id], CHUNKS_PER_ROW))[0];
    },
  };
}

/** The client side: one page of rows (each hit with its document and chunks), as the results page shows it. */
export async function fetchPage(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  const list = expectOk(await client.get(resultsPath(args)), 'GET /v1/results') as { items: { id: string }[]; page: { endCursor: string | null; hasNextPage: boolean } };
  const rows = await Promise.all(
    list.items.map(async ({ id }): Promise<ResultRow | undefined> => {
      const enc = encodeURIComponent(id);
      const [doc, chunks] = await Promise.all([client.get(`/v1/documents/${enc}`), client.get(`/v1/documents/${enc}/chunks`)]);
      if (doc.status === 404) return undefined; // removed since the list was read
      const d = expectOk(doc, `GET /v1/documents/${enc}`) as Omit<ResultRow, 'chunks'>;
      const c = expectOk(chunks, `GET /v1/documents/${enc}/chunks`) as { chunks: ResultRow['chunks'] };
      return { id: d.id, title: d.title, metadata: d.metadata, chunkCount: d.chunkCount, chunks: c.chunks };
    }),
  );
  return { rows: rows.filter((r): r is ResultRow => r !== undefined), endCursor: list.page.endCursor, hasNextPage: list.page.hasNextPage };
}
