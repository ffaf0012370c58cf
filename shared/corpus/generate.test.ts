import { describe, expect, it } from 'vitest';
import { chunkDocument } from './chunk.ts';
import { loadBrown } from './brown.ts';
import { docsForChunks, generateChunks, generateDocs, trainTextModel } from './generate.ts';

const model = trainTextModel(await loadBrown({ limit: 60 }));
const take = (seed: number, docs: number) => [...generateDocs({ model, docs, seed })];

describe('trainTextModel', () => {
  it('builds a CSR bigram table with cumulative counts', () => {
    expect(model.vocab[0]).toBe('');
    expect(model.offsets).toHaveLength(model.vocab.length + 1);
    expect(model.successors.length).toBe(model.cumulative.length);
    for (let r = 0; r < 50; r++) {
      for (let i = model.offsets[r] + 1; i < model.offsets[r + 1]; i++) {
        expect(model.cumulative[i]).toBeGreaterThan(model.cumulative[i - 1]);
        expect(model.successors[i]).toBeGreaterThan(model.successors[i - 1]);
      }
    }
    expect(model.genres).toEqual(['belles_lettres', 'editorial', 'news', 'reviews'].filter((g) => model.genres.includes(g)));
  });
});

describe('generateDocs', () => {
  it('is deterministic: same seed, same documents', () => {
    expect(take(42, 30)).toEqual(take(42, 30));
    expect(JSON.stringify(take(7, 5))).toBe(JSON.stringify(take(7, 5)));
  });
  it('differs across seeds', () => {
    expect(take(1, 5).map((d) => d.text)).not.toEqual(take(2, 5).map((d) => d.text));
  });
  it('emits numbered docs with genre metadata and text made of corpus words', () => {
    const docs = take(42, 50);
    expect(docs[0].id).toBe('gen/000001');
    expect(docs[49].id).toBe('gen/000050');
    const vocab = new Set(model.vocab);
    for (const d of docs) {
      expect(model.genres).toContain(d.metadata!.genre);
      expect(d.metadata!.source).toBe('generated');
      const words = d.text.match(/[\p{L}\p{N}]+(?:[-'’.,][\p{L}\p{N}]+)*/gu)!;
      expect(words.length).toBeGreaterThan(20);
      expect(words.filter((w) => vocab.has(w)).length / words.length).toBeGreaterThan(0.99);
    }
  });
  it('is lazy: a huge count costs nothing until iterated', () => {
    const it = generateDocs({ model, docs: 10_000_000 });
    expect(it.next().value!.id).toBe('gen/000001');
  });
});

describe('generateChunks / docsForChunks', () => {
  it('emits exactly the requested number of chunks, deterministically', () => {
    const a = [...generateChunks({ model, chunks: 123, seed: 3 })];
    expect(a).toHaveLength(123);
    expect(a.map((c) => c.id)).toEqual([...generateChunks({ model, chunks: 123, seed: 3 })].map((c) => c.id));
  });
  it('estimates the documents needed for a chunk count', () => {
    const docs = docsForChunks(1000, { model, seed: 5, sample: 200 });
    let chunks = 0;
    for (const d of generateDocs({ model, docs, seed: 5 })) chunks += chunkDocument(d).length;
    expect(chunks).toBeGreaterThan(900);
    expect(chunks).toBeLessThan(1100);
  });
});
