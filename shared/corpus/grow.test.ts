import { describe, expect, it } from 'vitest';
import { createEngine } from '../engine.ts';
import { loadBrown } from './brown.ts';
import { growEngine } from './grow.ts';

describe('growEngine', () => {
  it('grows an engine to at least the target with deterministic generated documents', async () => {
    const base = await loadBrown({ limit: 20 });
    const build = async () => {
      const engine = await createEngine({ llm: null, vector: { kind: 'flat' } });
      await engine.ingest(base);
      const before = engine.stats().chunks;
      const grown = await growEngine(engine, base, before + 400, { batch: 50 });
      return { engine, grown, before };
    };
    const a = await build();
    const b = await build();
    // reaches the target, and reports exactly what it added
    expect(a.engine.stats().chunks).toBeGreaterThanOrEqual(a.before + 400);
    expect(a.grown.chunks).toBe(a.engine.stats().chunks - a.before);
    expect(a.grown.documents).toBe(a.engine.stats().documents - base.length);
    expect(a.engine.stats()).toEqual(b.engine.stats());
    expect(a.engine.hasDocument('gen/000001')).toBe(true);
    const q = await a.engine.query('the committee said', { k: 5, mode: 'bm25' });
    const r = await b.engine.query('the committee said', { k: 5, mode: 'bm25' });
    expect(q.hits.map((h) => h.chunkId)).toEqual(r.hits.map((h) => h.chunkId));
  });
  it('does nothing when the engine is already large enough', async () => {
    const engine = await createEngine({ llm: null, vector: { kind: 'flat' } });
    expect(await growEngine(engine, [], 0)).toEqual({ documents: 0, chunks: 0, ingestMs: 0 });
  });
});
