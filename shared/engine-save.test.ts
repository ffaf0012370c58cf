/**
 * engine.save is crash-safe and loadEngine checks what it reads: every file's size and CRC-32 in the manifest,
 * written last; a changed byte anywhere is an error naming the file; `meta` is kept; nothing temporary is left.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from './corpus/brown.ts';
import { createEngine, loadEngine, type Engine } from './engine.ts';

let root: string;
let engine: Engine;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-engine-save-'));
  engine = await createEngine({ llm: null });
  await engine.ingest(await loadBrown({ limit: 5 }));
}, 60_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('engine.save / loadEngine', () => {
  it('records every file with its size and CRC-32, keeps meta, and leaves no temporary folder', async () => {
    const dir = join(root, 'a');
    await engine.save(dir, { meta: { version: 42 } });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.meta).toEqual({ version: 42 });
    expect(Object.keys(manifest.files).sort()).toEqual(readdirSync(dir).filter((f) => f !== 'manifest.json').sort());
    for (const f of Object.values(manifest.files) as Array<{ bytes: number; crc32: number }>) {
      expect(f.bytes).toBeGreaterThan(0);
      expect(Number.isInteger(f.crc32)).toBe(true);
    }
    expect(readdirSync(root)).toEqual(['a']);
    const again = await loadEngine(dir, { llm: null });
    expect(again.stats()).toEqual(engine.stats());
  });

  it('refuses a saved engine with one changed byte, naming the file', async () => {
    const dir = join(root, 'b');
    await engine.save(dir);
    const file = join(dir, 'chunks.bin');
    const buf = readFileSync(file);
    buf[Math.floor(buf.length / 2)] ^= 0x01;
    writeFileSync(file, buf);
    await expect(loadEngine(dir, { llm: null })).rejects.toThrow(/chunks\.bin: \d+ bytes, CRC-32 \d+; .*manifest\.json says/);
  });

  it('saving over an existing folder replaces it whole', async () => {
    const dir = join(root, 'c');
    await engine.save(dir, { meta: { version: 1 } });
    await engine.save(dir, { meta: { version: 2 } });
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).meta.version).toBe(2);
    expect(readdirSync(root).filter((n) => n.startsWith('c'))).toEqual(['c']);
  });
});

describe('format 2: chunks on disk, read by offset', () => {
  it('after a save the chunks leave memory and are read from chunks.bin; queries, answers and removals work as before', async () => {
    const e = await createEngine({ llm: null });
    const docs = await loadBrown({ limit: 8 });
    await e.ingest(docs);
    const queries = ['jury investigation of the election', 'the city council voted', 'a new bill in the legislature'];
    const before = await Promise.all(queries.map((q) => e.query(q, { k: 5 })));
    const inMemory = e.memory().parts.find((p) => p.part === 'in memory (since the last save)')!.bytes;
    expect(inMemory).toBeGreaterThan(50_000);
    const dir = join(root, 'v2');
    await e.save(dir);
    expect(e.memory().parts.find((p) => p.part === 'in memory (since the last save)')!.bytes).toBe(0);
    const after = await Promise.all(queries.map((q) => e.query(q, { k: 5 })));
    const strip = (r: { hits: unknown[]; answer?: unknown }) => ({ hits: r.hits, answer: r.answer });
    expect(after.map(strip)).toEqual(before.map(strip));
    const loaded = await loadEngine(dir, { llm: null });
    expect((await Promise.all(queries.map((q) => loaded.query(q, { k: 5 })))).map(strip)).toEqual(before.map(strip));
    // removing saved documents (their BM25 postings are compressed: the terms come from the text on disk) and
    // adding one leaves the engine like one built without them
    const gone = docs.slice(0, 3).map((d) => d.id);
    expect(loaded.remove(gone)).toEqual({ removed: 3 });
    await loaded.ingest([docs[0]]);
    const fresh = await createEngine({ llm: null, vector: { kind: 'flat' } });
    await fresh.ingest([...docs.slice(3), docs[0]]);
    const exactLoaded = await loadEngine(dir, { llm: null });
    exactLoaded.remove(gone);
    await exactLoaded.ingest([docs[0]]);
    for (const q of queries) {
      const a = await exactLoaded.query(q, { k: 5, mode: 'bm25' });
      const b = await fresh.query(q, { k: 5, mode: 'bm25' });
      expect(a.hits.map((h) => [h.chunkId, h.score.toFixed(5)])).toEqual(b.hits.map((h) => [h.chunkId, h.score.toFixed(5)]));
    }
    expect(loaded.stats()).toMatchObject({ documents: 6, chunks: fresh.stats().chunks });
  });

  it('loads an index saved in format 1 (chunks.jsonl, sentence rows in sentences.bin) and saves it as format 2', async () => {
    const v1 = new URL('./__fixtures__/engine-v1', import.meta.url).pathname;
    const old = await loadEngine(v1, { llm: null });
    expect(old.stats()).toMatchObject({ documents: 4, chunks: 3, vectorIndex: 'hnsw' });
    expect(old.hasDocument('empty')).toBe(true);
    const r = await old.query('jury election evidence', { k: 2 });
    // the hits the format-1 engine returned when it wrote the fixture
    expect(r.hits.map((h) => h.chunkId)).toEqual(['757716825de0d55d', 'e8eee6eae38e703d']);
    expect(r.answer?.text).toMatch(/jury/i);
    const dir = join(root, 'from-v1');
    await old.save(dir);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).version).toBe(2);
    expect(readdirSync(dir)).toContain('chunks.bin');
    const again = await loadEngine(dir, { llm: null });
    expect(again.stats()).toEqual(old.stats());
    expect((await again.query('jury election evidence', { k: 2 })).hits).toEqual(r.hits);
    expect((await again.query('hypersonic heating', { k: 1, filter: { year: 1962 } })).hits[0].docId).toBe('c');
  });
});
