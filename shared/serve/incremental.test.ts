/**
 * Incremental ingest in the write path (writes.ts, Sequencer): POST /v1/documents of a document exactly as the index
 * holds it does no work (no chunking, no embedding, no new version, `unchanged` in the answer); an edit is indexed.
 * In-process server on 127.0.0.1, 5 Brown documents; counts the embedder's calls and the versions, never timings.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine, type Engine } from '../engine.ts';
import { createServer, type RagServer } from './app.ts';

let engine: Engine;
let server: RagServer;
let url: string;
let docs: Awaited<ReturnType<typeof loadBrown>>;

beforeAll(async () => {
  docs = await loadBrown({ limit: 5 });
  engine = await createEngine({ llm: null });
  await engine.ingest(docs);
  server = await createServer({ engine, auth: false, maxEventLoopDelayMs: 0 });
  url = await server.listen(0, '127.0.0.1');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

const post = async (documents: unknown[]) => {
  const res = await fetch(`${url}/v1/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ documents }) });
  return { status: res.status, json: (await res.json()) as any };
};
const hits = async (query: string) => {
  const res = await fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, k: 3, mode: 'bm25', answer: false }) });
  return ((await res.json()) as any).hits.map((h: { docId: string; text: string }) => ({ docId: h.docId, text: h.text }));
};

describe('POST /v1/documents of unchanged documents', () => {
  it('embeds nothing and numbers nothing for a document sent again as it is; an edit is embedded and numbered', async () => {
    const embed = vi.spyOn(engine.embedder, 'embed');
    const doc = { id: 'inc/1', title: 'Incremental', text: 'zqincrementalx is indexed once. A second paragraph follows it.', metadata: { genre: 'test', year: 2026 } };
    const first = await post([doc]);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ documents: 1, replaced: 0 });
    const embedded = embed.mock.calls.length;
    expect(embedded).toBeGreaterThan(0);

    // the same document again (metadata keys in another order are the same document): no work at all
    const again = await post([{ ...doc, metadata: { year: 2026, genre: 'test' } }]);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ version: first.json.version, documents: 0, chunks: 0, replaced: 0, unchanged: 1 });
    expect(embed.mock.calls.length).toBe(embedded);
    expect(server.version).toBe(first.json.version);
    expect((await hits('zqincrementalx'))[0].docId).toBe('inc/1');

    // with a new document in the same batch: only the new one is indexed
    const batch = await post([doc, { id: 'inc/2', text: 'zqsecondx is new.' }]);
    expect(batch.json).toMatchObject({ version: first.json.version + 1, documents: 1, unchanged: 1 });
    const texts = embed.mock.calls.slice(embedded).flatMap((c) => c[0]);
    expect(texts.some((t) => t.includes('zqsecondx'))).toBe(true);
    expect(texts.some((t) => t.includes('zqincrementalx'))).toBe(false);

    // an edit is indexed and numbered, and answers with its new text
    const edited = await post([{ ...doc, text: 'zqincrementalx was edited.' }]);
    expect(edited.json).toMatchObject({ version: first.json.version + 2, documents: 1, replaced: 1 });
    expect(embed.mock.calls.length).toBeGreaterThan(embedded + 1);
    expect((await hits('zqincrementalx'))[0].text).toMatch(/was edited/);

    // a document of the saved index, never written through this server: not known to the write path, so written
    // again as a new version, and the engine pairs its chunks with the ones it holds: nothing is embedded
    const before = embed.mock.calls.length;
    const base = await post([docs[0]]);
    expect(base.json).toMatchObject({ documents: 1, replaced: 1 });
    expect(embed.mock.calls.length).toBe(before);
    embed.mockRestore();
  }, 60_000);
});
