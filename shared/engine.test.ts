import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from './corpus/brown.ts';
import { createEngine, loadEngine, type Engine, type RetrievalMode, type Timings } from './engine.ts';
import type { Doc } from './types.ts';

let engine: Engine;
let docs: Doc[];
let dir: string;

beforeAll(async () => {
  docs = await loadBrown({ limit: 40 });
  engine = await createEngine({ llm: null });
  await engine.ingest(docs);
  dir = await mkdtemp(join(tmpdir(), 'rag-engine-'));
}, 300_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The stages a query in `mode` times (with its answer): exactly these, none negative, and within the total. */
function expectStageTimings(timings: Timings, mode: RetrievalMode): void {
  const stages = { bm25: ['analyze', 'bm25'], dense: ['embed', 'dense'], hybrid: ['analyze', 'bm25', 'embed', 'dense', 'fuse'] }[mode];
  expect(Object.keys(timings).sort()).toEqual([...stages, 'answer', 'total'].sort());
  let sum = 0;
  for (const [stage, ms] of Object.entries(timings)) {
    expect(ms, stage).toBeGreaterThanOrEqual(0);
    if (stage !== 'total') sum += ms;
  }
  // the stages are disjoint intervals inside the total's (the margin is floating-point rounding)
  expect(sum).toBeLessThanOrEqual(timings.total + 1e-9);
}

const queries = [
  'grand jury investigation of the primary election',
  'baseball pitcher home run',
  'the governor and the state legislature',
];

describe('engine end to end', () => {
  it('ingests documents into chunks', () => {
    const s = engine.stats();
    expect(s.documents).toBe(40);
    expect(s.chunks).toBeGreaterThan(40);
    expect(s.vectorIndex).toBe('hnsw-i8');
  });

  it('finds a known passage in every mode, with per-stage timings', async () => {
    const sentence = 'The jury further said in term-end presentments that the City Executive Committee';
    for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
      const r = await engine.query(sentence, { k: 5, mode });
      expect(r.hits.length).toBe(5);
      expect(r.hits.map((h) => h.docId)).toContain('brown/ca01');
      expect(r.hits[0].rank).toBe(1);
      expectStageTimings(r.timings, mode);
    }
    const { hits } = await engine.query(sentence, { k: 3, mode: 'bm25' });
    expect(hits[0].docId).toBe('brown/ca01');
  });

  it('answers with cited sentences from the hits', async () => {
    const r = await engine.query('jury investigation of the election', { k: 5 });
    expect(r.answer?.source).toBe('extractive');
    expect(r.answer!.text.length).toBeGreaterThan(0);
    const hitChunks = new Set(r.hits.map((h) => h.chunkId));
    expect(r.answer!.citations.length).toBeGreaterThan(0);
    for (const c of r.answer!.citations) expect(hitChunks.has(c.chunkId)).toBe(true);
    expectStageTimings(r.timings, 'hybrid');
    expect(Object.keys((await engine.query('jury investigation of the election', { k: 5, answer: false })).timings)).not.toContain('answer');
  });

  it('applies metadata filters', async () => {
    const genre = docs[docs.length - 1].metadata!.genre;
    const r = await engine.query('the people of the city', { k: 10, filter: { genre } });
    expect(r.hits.length).toBeGreaterThan(0);
    for (const h of r.hits) expect(h.metadata.genre).toBe(genre);
    const one = await engine.query('the people of the city', { k: 10, filter: { docId: 'brown/ca02' } });
    expect(one.hits.length).toBeGreaterThan(0);
    for (const h of one.hits) expect(h.docId).toBe('brown/ca02');
  });

  it('saves, reloads and returns identical results', async () => {
    await engine.save(dir);
    const again = await loadEngine(dir, { llm: null });
    expect(again.stats()).toEqual(engine.stats());
    for (const q of queries) {
      for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
        const a = await engine.query(q, { k: 10, mode });
        const b = await again.query(q, { k: 10, mode });
        expect(b.hits.map((h) => [h.chunkId, h.score])).toEqual(a.hits.map((h) => [h.chunkId, h.score]));
        expect(b.answer?.text).toEqual(a.answer?.text);
      }
    }
    // an override left undefined keeps the saved setting; a given one replaces it
    const tuned = await createEngine({ llm: null, candidates: 7, hybridEf: 9 });
    await tuned.ingest(docs.slice(0, 3));
    await tuned.save(join(dir, 'tuned'));
    expect((await loadEngine(join(dir, 'tuned'), { llm: null, candidates: undefined })).config).toMatchObject({ candidates: 7, hybridEf: 9 });
    expect((await loadEngine(join(dir, 'tuned'), { llm: null, candidates: 12 })).config).toMatchObject({ candidates: 12, hybridEf: 9 });
  });

  it('updates and removes documents', async () => {
    const e = await createEngine({ llm: null, vector: { kind: 'flat' } });
    await e.ingest(docs.slice(0, 5));
    await e.ingest([{ id: 'note', text: 'Zeppelins float over the harbour at dawn.' }]);
    expect((await e.query('zeppelins harbour', { k: 1, mode: 'bm25' })).hits[0].docId).toBe('note');
    const res = await e.ingest([{ id: 'note', text: 'Submarines dive under the harbour at dusk.' }]);
    expect(res.replaced).toBe(1);
    expect((await e.query('zeppelins', { k: 5, mode: 'bm25' })).hits).toEqual([]);
    expect((await e.query('submarines harbour', { k: 1, mode: 'hybrid' })).hits[0].docId).toBe('note');
    expect(e.remove(['note', 'missing'])).toEqual({ removed: 1 });
    for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
      const r = await e.query('submarines harbour', { k: 50, mode });
      expect(r.hits.some((h) => h.docId === 'note')).toBe(false);
    }
    expect(e.stats().documents).toBe(5);
  });
});

describe('engine input validation', () => {
  it('rejects bad queries with typed, clear errors', async () => {
    await expect(engine.query('')).rejects.toMatchObject({ code: 'INVALID_INPUT', message: /non-empty/ });
    await expect(engine.query('   ')).rejects.toThrow(/non-empty/);
    await expect(engine.query('x'.repeat(5000))).rejects.toThrow(/limit is 4096/);
    await expect(engine.query('jury', { k: 0 })).rejects.toThrow(/k must be an integer from 1/);
    await expect(engine.query('jury', { k: 1e6 })).rejects.toThrow(/k must be/);
    await expect(engine.query('jury', { k: 2.5 })).rejects.toThrow(/k must be/);
    await expect(engine.query('jury', { mode: 'magic' as never })).rejects.toThrow(/mode must be one of bm25, dense, hybrid/);
    await expect(engine.query(42 as never)).rejects.toThrow(/non-empty string/);
  });
  it('rejects malformed documents without changing the index', async () => {
    const before = engine.stats();
    await expect(engine.ingest([{ id: 'ok', text: 'fine' }, { text: 'no id' }])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: /document #1/,
    });
    await expect(engine.ingest([{ id: 'x', text: 42 }])).rejects.toThrow(/document #0/);
    await expect(engine.ingest('nope' as never)).rejects.toThrow(/array/);
    expect(engine.stats()).toEqual(before);
    expect(engine.hasDocument('ok')).toBe(false);
  });
  it('returns no hits, not an error, for a query of stop words only', async () => {
    const r = await engine.query('the of and', { k: 5 });
    expect(r.hits).toEqual([]);
  });
  it('says clearly when a saved index is missing or corrupt', async () => {
    await expect(loadEngine(join(dir, 'nope'))).rejects.toThrow(/no saved engine/);
    const bad = await mkdtemp(join(tmpdir(), 'rag-bad-'));
    await writeFile(join(bad, 'manifest.json'), '{not json');
    await expect(loadEngine(bad)).rejects.toThrow(/not valid JSON/);
    await rm(bad, { recursive: true, force: true });
  });
});
