/**
 * The results API (REST + GraphQL over one resolver layer) with the batched resolvers: counted requests and look-ups,
 * problem+json errors, OpenAPI. The lesson t4/01-api-design checks the resolvers' behaviour under writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDocStore } from './doc-store.ts';
import { ApiClient, createBatchedResolvers, createResultsServer, fetchPageGraphQL, resultsPath, type ResultsServer } from './results-api.ts';

const docs = Array.from({ length: 25 }, (_, i) => ({
  id: `d${String(i).padStart(2, '0')}`,
  title: `T${i}`,
  text: `Body ${i}. `.repeat(300),
  metadata: { genre: i % 2 ? 'odd' : 'even', n: i, flag: i === 3 },
}));

describe('results API (batched resolvers)', () => {
  let store: MemoryDocStore;
  let server: ResultsServer;
  let client: ApiClient;
  beforeAll(async () => {
    store = MemoryDocStore.fromDocs(docs);
    server = await createResultsServer({ resolvers: createBatchedResolvers(store) });
    client = new ApiClient(server.url);
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('GraphQL: a page with documents and chunks in 1 request and 3 look-ups; metadata keeps its types', async () => {
    store.resetStats();
    client.roundTrips = 0;
    const p = await fetchPageGraphQL(client, { first: 10, genre: 'odd' });
    expect(p.rows.map((r) => r.id)).toEqual(['d01', 'd03', 'd05', 'd07', 'd09', 'd11', 'd13', 'd15', 'd17', 'd19']);
    expect(p.rows[1].metadata).toEqual({ genre: 'odd', n: 3, flag: true });
    expect(p.rows[0].chunks.length).toBeGreaterThan(0);
    expect(p.hasNextPage).toBe(true);
    expect(client.roundTrips).toBe(1);
    expect(store.stats.byKind).toEqual({ list: 1, documents: 1, chunks: 1 });
    const p2 = await fetchPageGraphQL(client, { first: 10, genre: 'odd', after: p.endCursor! });
    expect(p2.rows.map((r) => r.id)).toEqual(['d21', 'd23']);
    expect(p2.hasNextPage).toBe(false);
  });

  it('REST: the same page through the same resolvers, and the per-hit routes', async () => {
    store.resetStats();
    const ans = await client.get(resultsPath({ first: 10, genre: 'odd' }, 'document,chunks'));
    expect(ans.status).toBe(200);
    const body = ans.body as { items: { id: string; document: { title: string } }[]; page: { endCursor: string } };
    expect(body.items.map((i) => i.document.title).slice(0, 2)).toEqual(['T1', 'T3']);
    expect(store.stats.lookups).toBe(3);
    const doc = await client.get('/v1/documents/d04');
    expect(doc.body).toMatchObject({ id: 'd04', title: 'T4', metadata: { genre: 'even', n: 4, flag: false } });
    const missing = await client.get('/v1/documents/nope');
    expect(missing.status).toBe(404);
    expect(missing.contentType).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, title: 'Not Found', code: 'NOT_FOUND' });
  });

  it('errors: problem+json for REST (validation names the field), BAD_USER_INPUT for GraphQL; the store is not asked', async () => {
    store.resetStats();
    const bad = await client.get('/v1/results?first=500');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 400, title: 'Bad Request', code: 'INVALID_INPUT' });
    expect((bad.body as { detail: string }).detail).toMatch(/querystring\.first must be <= 100/);
    const unknown = await client.get('/v1/results?sort=desc');
    expect((unknown.body as { detail: string }).detail).toMatch(/sort is not a known field/);
    const cur = await client.get(resultsPath({ first: 5, after: 'zzz' }));
    expect(cur.body).toMatchObject({ status: 400, code: 'INVALID_CURSOR', instance: '/v1/results?first=5&after=zzz' });
    const g = await client.post('/graphql', { query: '{ results(first: 5, after: "zzz") { nodes { id } } }' });
    expect(g.status).toBe(400);
    expect(g.body).toMatchObject({ data: null, errors: [{ extensions: { code: 'BAD_USER_INPUT', reason: 'INVALID_CURSOR' } }] });
    const nf = await client.get('/v2/results');
    expect(nf.status).toBe(404);
    expect(nf.contentType).toMatch(/problem\+json/);
    expect(store.stats.lookups).toBe(0);
  });

  it('describes the REST routes in the OpenAPI document', async () => {
    const ans = await client.get('/openapi.json');
    const paths = (ans.body as { paths: Record<string, { get?: { parameters?: { name: string }[] } }> }).paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/results', '/v1/documents/{id}', '/v1/documents/{id}/chunks']));
    expect(paths['/v1/results'].get?.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['first', 'after', 'genre', 'include']));
  });
});
