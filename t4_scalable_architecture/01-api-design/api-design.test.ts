/**
 * Checkpoint for 01-api-design: what a client pays for a results page, and whether the page boundary holds.
 *
 * Every check runs the implementation's resolvers behind the engine's results API (shared/services/results-api.ts:
 * REST + GraphQL on a real Fastify server on 127.0.0.1, an ephemeral port) over an in-memory store that counts its
 * look-ups, and the implementation's `fetchPage` client through an ApiClient that counts round trips. Nothing is
 * timed: requests and look-ups are counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { MemoryDocStore } from '../../shared/services/doc-store.ts';
import { ApiClient, CHUNKS_PER_ROW, createResultsServer, resultsPath, type ResultRow, type ResultsServer } from '../../shared/services/results-api.ts';
import type { Doc } from '../../shared/types.ts';

type Mod = typeof import('./after.ts');

const pad = (n: number) => `d${String(n).padStart(3, '0')}`;

/** Documents d000, d002, … (even numbers: the odd ids are free to insert between them), two genres, 2-4 chunks. */
function makeDocs(n: number): Doc[] {
  return Array.from({ length: n }, (_, i) => ({
    id: pad(2 * i),
    title: `Title ${2 * i}`,
    text: Array.from({ length: 2 + (i % 3) }, (_, p) => `Paragraph ${p} of document ${2 * i}. ${'Words follow here. '.repeat(40)}`).join('\n\n'),
    metadata: { genre: i % 3 === 0 ? 'news' : 'fiction', n: 2 * i },
  }));
}

interface Api {
  store: MemoryDocStore;
  server: ResultsServer;
  client: ApiClient;
}

const open: Api[] = [];
afterEach(async () => {
  for (const api of open.splice(0)) {
    await api.client.close();
    await api.server.close();
  }
});

async function startApi(impl: Mod, docs: Doc[]): Promise<Api> {
  const store = MemoryDocStore.fromDocs(docs);
  const server = await createResultsServer({ resolvers: impl.createResolvers(store) });
  const api = { store, server, client: new ApiClient(server.url, { connections: 8 }) };
  open.push(api);
  return api;
}

/** What a row must show, straight from the store's data. */
async function expectedRows(store: MemoryDocStore, ids: string[]): Promise<ResultRow[]> {
  const docs = await store.getDocuments(ids);
  const chunks = await store.getChunks(ids, CHUNKS_PER_ROW);
  return ids.map((id, i) => ({ ...docs[i]!, chunks: chunks[i] }));
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('walks every page: each document once, in id order, with its title, metadata and first chunks', async () => {
    const { store, client } = await startApi(impl, makeDocs(23));
    for (const genre of [undefined, 'news']) {
      const seen: ResultRow[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 50; pages++) {
        const page = await impl.fetchPage(client, { first: 4, after, genre });
        seen.push(...page.rows);
        if (!page.hasNextPage) break;
        expect(page.endCursor, 'hasNextPage is true but endCursor is null').not.toBeNull();
        after = page.endCursor!;
      }
      const ids = store.allIds().filter((id) => genre === undefined || Number(id.slice(1)) % 6 === 0);
      expect(seen.map((r) => r.id), `the pages of ${genre ?? 'the whole collection'} do not list every document once in id order`).toEqual(ids);
      expect(seen, 'a row shows other fields than the store holds').toEqual(await expectedRows(store, ids));
    }
  });

  it('refuses an invalid cursor with a 400 problem+json (GraphQL: BAD_USER_INPUT) before asking the store', async () => {
    const { store, client } = await startApi(impl, makeDocs(12));
    store.resetStats();
    for (const bad of ['not a cursor!', 'eyJ2IjoxfQ', '-1']) {
      const ans = await client.get(resultsPath({ first: 5, after: bad }));
      const p = ans.body as { type?: unknown; title?: unknown; status?: unknown; detail?: unknown };
      expect(
        ans.status === 400 && ans.contentType.startsWith('application/problem+json'),
        `an invalid cursor (${JSON.stringify(bad)}) was answered ${ans.status} ${ans.contentType}: not a 400 problem+json (${JSON.stringify(ans.body).slice(0, 200)})`,
      ).toBe(true);
      expect(p.status, 'the problem document has no status 400').toBe(400);
      expect(typeof p.type === 'string' && typeof p.title === 'string' && typeof p.detail === 'string' && p.detail.length > 0, `the problem document lacks type, title or detail: ${JSON.stringify(p)}`).toBe(true);
      const g = await client.post('/graphql', { query: 'query($a: String) { results(first: 5, after: $a) { nodes { id } } }', variables: { a: bad } });
      const gb = g.body as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      expect(gb.errors?.[0]?.extensions?.code, `GraphQL with an invalid cursor (${JSON.stringify(bad)}): not a BAD_USER_INPUT error: ${JSON.stringify(g.body).slice(0, 200)}`).toBe('BAD_USER_INPUT');
      expect(gb.data ?? null, 'GraphQL answered data for an invalid cursor').toBeNull();
    }
    expect(store.stats.lookups, `${store.stats.lookups} store look-ups for requests whose cursor was invalid: nothing should reach the store`).toBe(0);
  });

  it('refuses a bad page size (REST 400 problem+json naming the field; GraphQL BAD_USER_INPUT)', async () => {
    const { store, client } = await startApi(impl, makeDocs(6));
    store.resetStats();
    for (const first of [0, 101]) {
      const ans = await client.get(`/v1/results?first=${first}`);
      expect(ans.status, `first=${first} answered ${ans.status}`).toBe(400);
      expect(ans.contentType.startsWith('application/problem+json'), ans.contentType).toBe(true);
      expect((ans.body as { detail: string }).detail).toMatch(/first/);
      const g = await client.post('/graphql', { query: `{ results(first: ${first}) { nodes { id } } }` });
      expect((g.body as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const syntax = await client.post('/graphql', { query: '{ results(first: 5) { nodes { id }' });
    expect(syntax.status, 'a GraphQL query that does not parse').toBe(400);
    expect(store.stats.lookups, 'bad page sizes reached the store').toBe(0);
  });

  describe.skipIf(name === 'before')('the point', () => {
    it('gets a page of 10 hits in 1 request and 3 store look-ups (REST include: 1 and 3 too)', async () => {
      const { store, client } = await startApi(impl, makeDocs(30));
      const first = await impl.fetchPage(client, { first: 10 });
      store.resetStats();
      client.roundTrips = 0;
      const page = await impl.fetchPage(client, { first: 10, after: first.endCursor! });
      expect(page.rows.length).toBe(10);
      const trips = client.roundTrips;
      expect(trips, `${trips} requests for a page of 10 hits: one for the list and one per hit's field is N + 1; ask for the page, rows and all, in one`).toBe(1);
      const s = store.stats;
      expect(s.lookups, `${s.lookups} store look-ups for a page of 10 hits (list ${s.byKind.list}, documents ${s.byKind.documents}, chunks ${s.byKind.chunks}): one per hit is the N + 1 pattern; batched, a page is one list, one documents and one chunks look-up`).toBeLessThanOrEqual(3);
      store.resetStats();
      const rest = await client.get(resultsPath({ first: 10 }, 'document,chunks'));
      expect(rest.status).toBe(200);
      const items = (rest.body as { items: { id: string; document?: { title: string }; chunks?: unknown[] }[] }).items;
      expect(items.length === 10 && items.every((it) => it.document?.title && Array.isArray(it.chunks)), 'REST include=document,chunks did not embed them').toBe(true);
      expect(store.stats.lookups, `${store.stats.lookups} store look-ups for a page of 10 hits through REST include=document,chunks: REST and GraphQL share the resolvers, and their batching`).toBeLessThanOrEqual(3);
    });

    it('keeps the page boundary when documents are added before it: no document repeated, none skipped', async () => {
      const { store, client } = await startApi(impl, makeDocs(30));
      const everPresent = new Set(store.allIds());
      const seenOn = new Map<string, number>();
      let after: string | undefined;
      let page = 0;
      for (; page < 40; page++) {
        const p = await impl.fetchPage(client, { first: 5, after });
        for (const r of p.rows) {
          const before = seenOn.get(r.id);
          expect(before, `document ${r.id} appeared twice (pages ${before! + 1} and ${page + 1}) after documents were added before the page boundary: the boundary moved`).toBeUndefined();
          seenOn.set(r.id, page);
        }
        if (!p.hasNextPage) break;
        after = p.endCursor!;
        // concurrent writes: two new documents that sort before the last row seen (the odd ids are free)
        const last = Number(p.rows.at(-1)!.id.slice(1));
        const fresh = [last - 1, last - 3].filter((k) => k > 0 && !store.allIds().includes(pad(k)));
        store.put(fresh.map((k) => ({ id: pad(k), title: `New ${k}`, text: `Added while a client was paging, ${k}.` })));
      }
      const missing = [...everPresent].filter((id) => !seenOn.has(id));
      expect(missing, `documents ${missing.slice(0, 3).join(', ')} were never shown though they existed throughout the walk: the boundary moved`).toEqual([]);
    });

    it('keeps the page boundary when documents before it are removed: none skipped', async () => {
      const { store, client } = await startApi(impl, makeDocs(30));
      const seen = new Set<string>();
      const removed = new Set<string>();
      let after: string | undefined;
      for (let page = 0; page < 40; page++) {
        const p = await impl.fetchPage(client, { first: 5, after });
        for (const r of p.rows) seen.add(r.id);
        if (!p.hasNextPage) break;
        after = p.endCursor!;
        // concurrent writes: two documents already shown are removed (not the last one: its id is the boundary)
        const gone = p.rows.slice(0, 2).map((r) => r.id);
        store.remove(gone);
        for (const id of gone) removed.add(id);
      }
      const skipped = makeDocs(30)
        .map((d) => d.id)
        .filter((id) => !seen.has(id) && !removed.has(id));
      expect(skipped, `documents ${skipped.slice(0, 3).join(', ')} were skipped (never shown) after documents before the page boundary were removed: the boundary moved`).toEqual([]);
    });

    it('refuses a cursor the service did not make (edited by the client) or made for another listing', async () => {
      const { store, client } = await startApi(impl, makeDocs(30));
      const p = await impl.fetchPage(client, { first: 5, genre: 'news' });
      const cursor = p.endCursor!;
      const next = await client.get(resultsPath({ first: 5, genre: 'news', after: cursor }));
      const nextIds = JSON.stringify((next.body as { items: { id: string }[] }).items.map((i) => i.id));
      store.resetStats();
      for (const at of new Set([0, Math.floor(cursor.length / 2), Math.max(0, cursor.length - 2)])) {
        const edited = cursor.slice(0, at) + (cursor[at] === 'A' ? 'B' : 'A') + cursor.slice(at + 1);
        const ans = await client.get(resultsPath({ first: 5, genre: 'news', after: edited }));
        // a change the decoder cannot see (bits a base64 character carries beyond the data) gives the same page: harmless
        const same = ans.status === 200 && JSON.stringify((ans.body as { items: { id: string }[] }).items.map((i) => i.id)) === nextIds;
        expect(ans.status === 400 || same, `a cursor edited by the client (character ${at} of ${JSON.stringify(cursor)} changed) was answered ${ans.status}: a cursor must be validated and refused with 400 problem+json`).toBe(true);
      }
      const other = await client.get(resultsPath({ first: 5, genre: 'fiction', after: cursor }));
      expect(other.status, `a cursor of the genre=news listing handed to genre=fiction was answered ${other.status}: a cursor must be validated against its listing and refused with 400`).toBe(400);
      expect(store.stats.lookups, `${store.stats.lookups} store look-ups for refused cursors`).toBe(0);
    });

    it("shows a write made between two requests: a DataLoader's cache lives for one request", async () => {
      const { store, client } = await startApi(impl, makeDocs(10));
      const p1 = await impl.fetchPage(client, { first: 3 });
      const id = p1.rows[1].id;
      store.put([{ id, title: 'Retitled', text: 'New text of the document.', metadata: { genre: 'news', n: -1 } }]);
      const p2 = await impl.fetchPage(client, { first: 3 });
      const row = p2.rows.find((r) => r.id === id)!;
      expect(row.title, `stale: document ${id} shows title ${JSON.stringify(row.title)} after it was changed to "Retitled" before this request: a DataLoader's cache must not outlive the request`).toBe('Retitled');
      expect(row.chunks).toEqual((await store.getChunks([id], CHUNKS_PER_ROW))[0]);
    });
  });
});
