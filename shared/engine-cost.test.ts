/**
 * Bounded cost per request, engine side (issue 10): a long ingest does not hold the thread (queries run between its
 * slices and see the batch whole or not at all), ingests run one at a time in order, metadata filters are answered
 * from postings (a filter matching nothing searches no index and looks at no chunk), and filtered results are the
 * ones testing every chunk gave. Mechanisms are checked by order and by counts, never by timing.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadBrown } from './corpus/brown.ts';
import { createDefaultEmbedder } from './embed/sif.ts';
import { createEngine, DEFAULT_FUSION, type Engine } from './engine.ts';
import { compileFilter, type MetadataFilter } from './retrieve/filter.ts';
import { fuse } from './retrieve/fusion.ts';
import type { Doc, Embedder, Metadata } from './types.ts';
import { mulberry32 } from './util/random.ts';

let docs: Doc[];
let inner: Embedder;

/** Brown text of about `chars` characters, with `marker` once per paragraph (so most chunks hold it). */
function bigText(chars: number, marker: string): string {
  const parts: string[] = [];
  let n = 0;
  for (const d of docs) {
    for (const para of d.text.split(/\n\s*\n/)) {
      parts.push(`${para.trim()} ${marker}.`);
      n += para.length;
      if (n >= chars) return parts.join('\n\n');
    }
  }
  return parts.join('\n\n');
}

/** The default embedder behind a switch that makes batch calls (ingest) fail after `failAfter` of them. */
class FlakyEmbedder implements Embedder {
  failAfter = Infinity;
  batches = 0;
  readonly name: string;
  readonly dim: number;
  constructor(private readonly base: Embedder) {
    this.name = base.name;
    this.dim = base.dim;
  }
  async embed(texts: string[]) {
    if (texts.length > 1 && ++this.batches > this.failAfter) throw new Error('embedder down');
    return this.base.embed(texts);
  }
  fit(texts: string[]) {
    return this.base.fit!(texts);
  }
}

async function engineWith(extra: Parameters<typeof createEngine>[0] = {}, base: Doc[] = docs): Promise<Engine> {
  const engine = await createEngine({ embedder: inner, llm: null, ...extra });
  await engine.ingest(base);
  return engine;
}

beforeAll(async () => {
  docs = await loadBrown({ limit: 30 });
  inner = await createDefaultEmbedder();
  // fitted once on the base corpus, so every engine below embeds alike
  await inner.fit!(docs.map((d) => d.text));
}, 300_000);

describe('ingest works in slices and commits at once', () => {
  it('answers queries issued while a large ingest is in progress before it finishes, each seeing the old version or the new one whole', async () => {
    const engine = await engineWith({ ingestSliceMs: 1 });
    const v1 = bigText(60_000, 'zqalpha');
    const v2 = bigText(120_000, 'zqbeta');
    await engine.ingest([{ id: 'big', text: v1 }]);
    const count = async (marker: string) =>
      (await engine.query(marker, { k: 1000, mode: 'bm25', answer: false, filter: { docId: 'big' } })).hits.length;
    const alphaChunks = await count('zqalpha');
    expect(alphaChunks).toBeGreaterThan(10);

    let done = false;
    const seen: Array<{ alpha: number; beta: number }> = [];
    const ingest = engine.ingest([{ id: 'big', text: v2 }]).then((r) => {
      done = true;
      return r;
    });
    // queries arrive as macrotasks (as requests do), one after another, until the ingest is over
    while (!done) {
      await new Promise((r) => setImmediate(r));
      if (done) break;
      const r = await engine.query('zqalpha zqbeta', { k: 1000, mode: 'hybrid', filter: { docId: 'big' } });
      const alpha = r.hits.filter((h) => h.text.includes('zqalpha')).length;
      const beta = r.hits.filter((h) => h.text.includes('zqbeta')).length;
      if (!done) seen.push({ alpha, beta });
    }
    const result = await ingest;
    expect(result.replaced).toBe(1);
    // ordering, not timing: queries completed while the ingest was still running …
    expect(seen.length).toBeGreaterThan(0);
    // … and every one of them saw the whole old version (the new one is not committed before the ingest returns)
    for (const s of seen) expect(s).toEqual({ alpha: alphaChunks, beta: 0 });
    expect(await count('zqalpha')).toBe(0);
    expect(await count('zqbeta')).toBeGreaterThan(alphaChunks);
    expect(engine.bm25.stats().pendingPostings).toBe(0);
  }, 300_000);

  it('runs ingests one at a time, in call order', async () => {
    const engine = await engineWith({ ingestSliceMs: 0 });
    const events: string[] = [];
    const a = engine.ingest([{ id: 'a', text: bigText(20_000, 'zqa') }], (done, total) => events.push(`a ${done}/${total}`));
    const b = engine.ingest([{ id: 'b', text: bigText(20_000, 'zqb') }], (done, total) => events.push(`b ${done}/${total}`));
    expect(engine.stats().ingestsInFlight).toBe(2);
    await a.then(() => events.push('a done'));
    await b.then(() => events.push('b done'));
    const firstB = events.findIndex((e) => e.startsWith('b '));
    expect(firstB).toBeGreaterThan(events.indexOf('a done'));
    expect(events.at(-1)).toBe('b done');
    expect(engine.stats().ingestsInFlight).toBe(0);
  }, 300_000);

  it('leaves the engine as it was when the embedder fails half-way through a batch', async () => {
    const flaky = new FlakyEmbedder(inner);
    const engine = await engineWith({ embedder: flaky });
    const before = engine.stats();
    const answer = await engine.query('jury election', { k: 10 });
    flaky.failAfter = flaky.batches + 1; // the second batch of 32 chunks fails
    await expect(engine.ingest([{ id: 'brown/ca01', text: bigText(60_000, 'zqfail') }])).rejects.toThrow(/embedder down/);
    expect(engine.stats()).toEqual(before);
    expect(engine.bm25.stats().pendingPostings).toBe(0);
    expect((await engine.query('jury election', { k: 10 })).hits).toEqual(answer.hits);
    expect((await engine.query('zqfail', { k: 5, mode: 'bm25' })).hits).toEqual([]);
    // and the next ingest goes through
    flaky.failAfter = Infinity;
    await engine.ingest([{ id: 'after', text: 'Zeppelins drift over the quiet harbour.' }]);
    expect((await engine.query('zeppelins harbour', { k: 1, mode: 'bm25' })).hits[0].docId).toBe('after');
  }, 300_000);
});

describe('BM25 compaction in slices', () => {
  it('drops the dead postings of replaced and removed documents in the background, never inside a write', async () => {
    const engine = await engineWith({ vector: { kind: 'flat' } }, docs.slice(0, 10));
    const full = vi.spyOn(engine.bm25, 'compact');
    const steps = vi.spyOn(engine.bm25, 'compactSteps');
    const text = bigText(30_000, 'zqcompact');
    for (let i = 0; i < 6; i++) await engine.ingest([{ id: 'churn', text: `${text} round ${i}` }]);
    engine.remove(['churn', docs[0].id]);
    await engine.idle();
    expect(full).not.toHaveBeenCalled();
    expect(steps).toHaveBeenCalled();
    const s = engine.bm25.stats();
    expect(s.deadPostings).toBeLessThanOrEqual(engine.bm25.compactRatio * s.postings);
    expect((await engine.query('zqcompact', { k: 5, mode: 'bm25' })).hits).toEqual([]);
    expect((await engine.query('jury', { k: 5, mode: 'bm25' })).hits.length).toBeGreaterThan(0);
    vi.restoreAllMocks();
  }, 300_000);
});

describe('metadata filters from postings', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await engineWith();
    await engine.query('warm', { filter: { genre: 'news' } }); // builds the postings
  }, 300_000);

  it('a filter that matches nothing searches no index, embeds nothing and looks at no chunk', async () => {
    const bm25 = vi.spyOn(engine.bm25, 'search');
    const dense = vi.spyOn(engine.vectors, 'search');
    const embed = vi.spyOn(engine.embedder, 'embed');
    const examined = engine.filterLabelsExamined;
    const filters: MetadataFilter[] = [{ genre: 'poetry' }, { docId: 'nope' }, { genre: ['x', 'y', 'z'] }, { genre: 'news', lang: 'fr' }, { source: 1 }];
    for (const filter of filters) {
      for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
        const r = await engine.query('jury investigation of the election', { k: 10, mode, filter });
        expect(r.hits, JSON.stringify(filter)).toEqual([]);
      }
    }
    expect(bm25).not.toHaveBeenCalled();
    expect(dense).not.toHaveBeenCalled();
    expect(embed).not.toHaveBeenCalled();
    expect(engine.filterLabelsExamined).toBe(examined);
    vi.restoreAllMocks();
  });

  it('a selective filter looks at its own postings only and ranks them exactly', async () => {
    const dense = vi.spyOn(engine.vectors, 'search');
    const id = 'brown/ca05';
    const own = (await engine.query('city council', { k: 1000, mode: 'dense', answer: false, filter: { docId: id } })).hits.length;
    const examined = engine.filterLabelsExamined;
    const r = await engine.query('the city council voted on the budget', { k: 1000, mode: 'dense', filter: { docId: id } });
    expect(engine.filterLabelsExamined - examined).toBeLessThanOrEqual(own + 5);
    expect(dense).not.toHaveBeenCalled(); // ranked among the document's chunks, not by a filtered graph walk
    expect(r.hits.length).toBeGreaterThan(0);
    for (const h of r.hits) expect(h.docId).toBe(id);
    for (let i = 1; i < r.hits.length; i++) expect(r.hits[i - 1].score).toBeGreaterThanOrEqual(r.hits[i].score);
    vi.restoreAllMocks();
  });

  it('returns what testing every chunk returned, on randomized filters, in every mode (exact vector index)', async () => {
    const rand = mulberry32(10);
    const genres = ['news', 'editorial', 'fiction'];
    const values = [1, '1', true, 'true', 1961, '1961', 0];
    const tagged: Doc[] = docs.map((d) => {
      const metadata: Metadata = { genre: genres[Math.floor(rand() * 3)] };
      if (rand() < 0.7) metadata.year = values[Math.floor(rand() * values.length)];
      if (rand() < 0.5) metadata.flag = rand() < 0.5;
      return { ...d, metadata };
    });
    const flat = await engineWith({ vector: { kind: 'flat' } }, tagged);
    const queries = ['jury investigation of the election', 'the governor and the state legislature', 'baseball pitcher home run'];
    const docIds = tagged.map((d) => d.id);
    let nonEmpty = 0;
    for (let i = 0; i < 60; i++) {
      const filter: MetadataFilter = {};
      if (rand() < 0.7) filter.genre = rand() < 0.5 ? genres[Math.floor(rand() * 3)] : [genres[0], genres[Math.floor(rand() * 3)]];
      if (rand() < 0.5) filter.year = values[Math.floor(rand() * values.length)];
      if (rand() < 0.3) filter.flag = rand() < 0.5;
      if (rand() < 0.2) filter.docId = [docIds[Math.floor(rand() * docIds.length)], docIds[Math.floor(rand() * docIds.length)]];
      if (Object.keys(filter).length === 0) filter.genre = 'news';
      const test = compileFilter(filter);
      const allowed = (label: number) => {
        const c = flat.chunk(label);
        return c !== undefined && test(c);
      };
      const q = queries[i % queries.length];
      const k = 10;
      // what the engine did before postings: every retriever asks the predicate about each candidate
      const bm25 = flat.bm25.search(flat.analyzer.analyze(q), 20, allowed);
      const [vector] = await flat.embedder.embed([q]);
      const denseList = flat.vectors.search(vector, 20, allowed);
      const expected = {
        bm25: bm25.slice(0, k).map((h) => [h.label, h.score]),
        dense: denseList.slice(0, k).map((h) => [h.label, h.score]),
        hybrid: fuse([bm25, denseList], DEFAULT_FUSION).slice(0, k).map((f) => [f.label, f.score]),
      };
      for (const mode of ['bm25', 'dense', 'hybrid'] as const) {
        const r = await flat.query(q, { k, mode, filter, answer: false });
        const got = r.hits.map((h) => [h.chunkId, h.score]);
        const want = expected[mode].map(([label, score]) => [flat.chunk(label)!.id, score]);
        expect(got, `${mode} ${JSON.stringify(filter)}`).toEqual(want);
      }
      if (expected.hybrid.length > 0) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(15);
  }, 300_000);

  it('keeps the postings in step with ingests, replacements and removals', async () => {
    const e = await engineWith({ vector: { kind: 'flat' } }, docs.slice(0, 5));
    const genreOf = async (genre: string) =>
      new Set((await e.query('city council', { k: 1000, mode: 'dense', answer: false, filter: { genre } })).hits.map((h) => h.docId));
    expect(await genreOf('news')).toEqual(new Set(docs.slice(0, 5).map((d) => d.id)));
    await e.ingest([{ ...docs[0], metadata: { genre: 'opinion' } }]);
    expect((await genreOf('news')).has(docs[0].id)).toBe(false);
    expect(await genreOf('opinion')).toEqual(new Set([docs[0].id]));
    e.remove([docs[0].id, docs[1].id]);
    expect(await genreOf('opinion')).toEqual(new Set());
    expect((await genreOf('news')).has(docs[1].id)).toBe(false);
  }, 300_000);
});
