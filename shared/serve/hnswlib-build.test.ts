import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { indexText } from '../corpus/chunk.ts';
import { generateDocs, trainTextModel } from '../corpus/generate.ts';
import { loadEngine, type Engine } from '../engine.ts';
import { isRagError } from '../errors.ts';
import { buildIndex } from './build-index.ts';
import { CompactHnswIndex } from '../index/hnsw-i8.ts';
import { buildIndexWithHnswlib, convertFlatToCompact, formatDuration } from './hnswlib-build.ts';

// ~2k chunks of generated text (a bigram model of Brown), as a folder corpus: small enough to build in seconds
let root: string;
let engineDir: string;
let hnswlibDir: string;
let engine: Engine;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hnswlib-build-'));
  const model = trainTextModel(await loadBrown());
  const docs = [...generateDocs({ model, seed: 7, docs: 1100 })];
  await mkdir(join(root, 'corpus'));
  await writeFile(join(root, 'corpus', 'docs.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  engineDir = join(root, 'idx-engine');
  hnswlibDir = join(root, 'idx-hnswlib');
  await buildIndex({ corpus: join(root, 'corpus'), out: engineDir });
  await buildIndexWithHnswlib({ corpus: join(root, 'corpus'), out: hnswlibDir });
  engine = await loadEngine(hnswlibDir, { llm: null });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('buildIndexWithHnswlib', () => {
  it('saves the engine path’s index format: an int8 HNSW graph with one node per chunk, nothing left behind', async () => {
    const manifest = JSON.parse(await readFile(join(hnswlibDir, 'manifest.json'), 'utf8'));
    const reference = JSON.parse(await readFile(join(engineDir, 'manifest.json'), 'utf8'));
    expect(manifest.vectorIndex).toBe('hnsw-i8');
    expect(manifest.config).toEqual(reference.config);
    expect(manifest.state).toEqual(reference.state);
    expect(Object.keys(manifest.files)).toEqual(Object.keys(reference.files));
    expect(engine.vectors).toBeInstanceOf(CompactHnswIndex);
    expect(engine.stats().chunks).toBeGreaterThan(1500);
    expect(engine.vectors.size).toBe(engine.stats().chunks);
    expect(engine.stats().chunks).toBe(reference.stats.chunks);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(root)).sort()).toEqual(['corpus', 'idx-engine', 'idx-hnswlib']);
  });

  it('writes the same chunks, documents, BM25 and sentences as the engine path (only the graph differs)', async () => {
    for (const f of ['chunks.bin', 'chunks.bin.idx', 'documents.jsonl', 'bm25.bin', 'sentences.bin']) {
      expect((await readFile(join(hnswlibDir, f))).equals(await readFile(join(engineDir, f))), f).toBe(true);
    }
  });

  it('answers queries with recall@10 >= 0.95 against exact float32 search', async () => {
    const n = engine.stats().chunks;
    const labels: number[] = [];
    const texts: string[] = [];
    for (let l = 0; l < n; l++) {
      const c = engine.chunk(l);
      if (c) {
        labels.push(l);
        texts.push(indexText(c));
      }
    }
    const all = await engine.embedder.embed(texts);
    // queries: the first sentence-ish piece of every 20th chunk (not the chunk itself, so neighbours matter)
    let hit = 0;
    let total = 0;
    for (let q = 0; q < labels.length; q += 20) {
      const [v] = await engine.embedder.embed([texts[q].split(' ').slice(0, 12).join(' ')]);
      if (v.every((x) => x === 0)) continue;
      const exact = labels
        .map((l, i) => ({ l, s: all[i].reduce((acc, x, j) => acc + x * v[j], 0) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 10)
        .map((x) => x.l);
      const got = new Set(engine.vectors.search(v, 10).map((h) => h.label));
      hit += exact.filter((l) => got.has(l)).length;
      total += 10;
    }
    expect(total).toBeGreaterThanOrEqual(500);
    expect(hit / total).toBeGreaterThanOrEqual(0.95);
    const r = await engine.query(texts[0].split(' ').slice(0, 12).join(' '), { mode: 'dense', k: 5 });
    expect(r.hits.length).toBe(5);
  });

  it('saves the search beam calibrated on sample queries, and the serving engine uses it', async () => {
    const manifest = JSON.parse(await readFile(join(hnswlibDir, 'manifest.json'), 'utf8'));
    const cal = manifest.vectorCalibration;
    expect(cal).toMatchObject({ reached: true, target: 0.95, k: 10, queries: 200 });
    expect(cal.recall).toBeGreaterThanOrEqual(0.95);
    expect(cal.tried[0].ef).toBe(160);
    expect(cal.tried.at(-1)).toEqual({ ef: cal.efSearch, recall: cal.recall });
    expect((engine.vectors as CompactHnswIndex).ef).toBe(cal.efSearch);
  });

  it('keeps a beam given in the configuration instead of calibrating', async () => {
    const dir = join(root, 'idx-ef');
    try {
      const r = await buildIndexWithHnswlib({ corpus: join(root, 'corpus'), out: dir, engine: { vector: { efSearch: 48 } } });
      expect(r.calibration).toBeUndefined();
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      expect(manifest.vectorCalibration).toBeUndefined();
      const loaded = await loadEngine(dir, { llm: null });
      expect((loaded.vectors as CompactHnswIndex).ef).toBe(48);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses to convert an index whose vectors are not flat', async () => {
    const err = await convertFlatToCompact(engineDir).catch((e) => e);
    expect(isRagError(err) && err.code === 'INVALID_INPUT').toBe(true);
    await expect(buildIndexWithHnswlib({ out: join(root, 'x'), engine: { vector: { kind: 'flat' } } })).rejects.toThrow(/hnsw-i8/);
  });
});

describe('formatDuration', () => {
  it('formats an ETA', () => {
    expect([formatDuration(12.4), formatDuration(200), formatDuration(3725), formatDuration(NaN)]).toEqual(['12s', '3m 20s', '1h 02m', '?']);
  });
});
