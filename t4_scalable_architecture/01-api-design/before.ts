/**
 * BEFORE: a results page the way a first REST API serves it. `GET /v1/results?first=20&after=40` lists ids from an
 * offset (the "cursor" is the offset as text), and the client then asks for each hit's document and chunks, one
 * request each: 1 + 2 × 20 round trips per page, and on the server one store look-up per request (N + 1).
 *
 * It is correct on a store nobody writes to. Under concurrent writes the offset moves with the data: a document
 * added before the page boundary pushes the last row of this page onto the next one (shown twice), one removed
 * pulls the first row of the next page onto this one (never shown).
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
