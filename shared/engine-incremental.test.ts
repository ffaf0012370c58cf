/**
 * Incremental ingest (issue 11, lesson 05 carried into the engine): replacing a document re-embeds only the chunks
 * whose indexed text changed, and the engine afterwards answers exactly as one that ingested the new version from
 * scratch. Work is counted (texts the embedder was given), never timed.
 *
 * Equality is checked on engines with the exact ('flat') vector index: an HNSW graph depends on insertion order, so an
 * edited engine's graph is not the from-scratch engine's and approximate dense lists may differ there. BM25 is exact
 * in every configuration; the last test checks it on the default HNSW engine as well.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from './corpus/brown.ts';
import { chunkDocument } from './corpus/chunk.ts';
import { diffChunks } from './corpus/diff.ts';
import { createDefaultEmbedder } from './embed/sif.ts';
import { createEngine, loadEngine, type Engine, type EngineConfig, type QueryResult, type RetrievalMode } from './engine.ts';
import type { MetadataFilter } from './retrieve/filter.ts';
import type { Doc, Embedder } from './types.ts';

/** The fitted default embedder, counting the texts it is given (`counted`: around an ingest, with no query meanwhile). */
class CountingEmbedder implements Embedder {
  texts = 0;
  readonly name: string;
  readonly dim: number;
  constructor(private readonly base: Embedder) {
    this.name = base.name;
    this.dim = base.dim;
  }
  /** Called (once) at the next embed call. */
  onNextEmbed: (() => void) | undefined;
  async embed(texts: string[]) {
    const hook = this.onNextEmbed;
    this.onNextEmbed = undefined;
    hook?.();
    this.texts += texts.length;
    return this.base.embed(texts);
  }
  async counted<T>(fn: () => Promise<T>): Promise<{ value: T; texts: number }> {
    const before = this.texts;
    const value = await fn();
    return { value, texts: this.texts - before };
  }
  // no fit(): fitted once below, so every engine here embeds alike
}

let base: Doc[];
let paras: string[];
let embedder: CountingEmbedder;
let root: string;

/** A long document: `n` Brown paragraphs (`paras`), with `edit` applied to the list first. */
function longDoc(n: number, edit: (p: string[]) => void = () => {}, extra: Partial<Doc> = {}): Doc {
  const p = paras.slice(0, n);
  edit(p);
  return { id: 'long', text: p.join('\n\n'), title: 'Collected passages', metadata: { genre: 'anthology', year: 1961 }, ...extra };
}

async function engineWith(docs: Doc[], config: EngineConfig = {}): Promise<Engine> {
  const e = await createEngine({ embedder, llm: null, vector: { kind: 'flat' }, ...config });
  await e.ingest(docs);
  return e;
}

const QUERIES = [
  'zeppelin crew waved at the harbour pilots',
  'grand jury investigation of the primary election',
  'the governor and the state legislature',
  'baseball pitcher home run',
  'collected passages anthology',
  'church music and the choir',
];

/**
 * A result as a caller sees it, scores rounded (float tolerance). Equal scores are ordered by chunk id, and the hits
 * tied at the cut (the lowest score of a full list) are left out, leaving their scores: which of several equal-scored
 * chunks makes the top k goes by label order, and an edited document's labels are not in a fresh ingest's order.
 */
function seen(r: QueryResult, k: number) {
  const hits = r.hits.map((h) => ({
    chunkId: h.chunkId,
    docId: h.docId,
    position: h.position,
    title: h.title,
    text: h.text,
    metadata: h.metadata,
    score: Number(h.score.toFixed(6)),
    bm25: h.scores.bm25 === undefined ? undefined : Number(h.scores.bm25.toFixed(5)),
    dense: h.scores.dense === undefined ? undefined : Number(h.scores.dense.toFixed(5)),
  }));
  hits.sort((a, b) => b.score - a.score || (a.chunkId < b.chunkId ? -1 : a.chunkId > b.chunkId ? 1 : 0));
  const cut = hits.length === k ? hits[hits.length - 1].score : -Infinity;
  return {
    scores: hits.map((h) => h.score),
    hits: hits.filter((h) => h.score !== cut),
    answer: r.answer && { text: r.answer.text, citations: r.answer.citations },
  };
}

/** Every query in every mode (and filtered by the document and by its genre) gives what the from-scratch engine gives. */
async function expectSameAnswers(edited: Engine, scratch: Engine, modes: RetrievalMode[] = ['bm25', 'dense', 'hybrid']): Promise<void> {
  expect(edited.stats()).toEqual(scratch.stats());
  for (const q of QUERIES) {
    for (const mode of modes) {
      for (const filter of [undefined, { docId: 'long' }, { genre: 'anthology' }] as (MetadataFilter | undefined)[]) {
        const a = seen(await edited.query(q, { k: 20, mode, filter }), 20);
        const b = seen(await scratch.query(q, { k: 20, mode, filter }), 20);
        expect(a, `${mode} "${q}" ${JSON.stringify(filter)}`).toEqual(b);
      }
    }
  }
}

/** Every chunk of `long`, by position, as the engine returns them (a dense query filtered to the document returns all). */
async function chunksOfLong(e: Engine) {
  const { hits } = await e.query('passages', { k: 1000, mode: 'dense', answer: false, filter: { docId: 'long' } });
  return hits.map((h) => ({ chunkId: h.chunkId, position: h.position, title: h.title, text: h.text, metadata: h.metadata })).sort((a, b) => a.position - b.position);
}

beforeAll(async () => {
  base = await loadBrown({ limit: 30 });
  paras = [];
  for (const d of base) for (const p of d.text.split(/\n\s*\n/)) if (p.trim()) paras.push(p.trim());
  const inner = await createDefaultEmbedder();
  await inner.fit!(base.map((d) => d.text));
  embedder = new CountingEmbedder(inner);
  root = await mkdtemp(join(tmpdir(), 'rag-incremental-'));
}, 300_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const EDIT = ' The zeppelin crew waved at the harbour pilots.';

describe('incremental ingest of an edited document', () => {
  it('embeds only the chunks a one-paragraph edit changed, and then answers as an engine built from the edited text', async () => {
    const v1 = longDoc(300);
    const v2 = longDoc(300, (p) => (p[100] += EDIT));
    const old = chunkDocument(v1);
    const next = chunkDocument(v2);
    const changed = diffChunks(old, next).added.length;
    expect(old.length).toBeGreaterThan(50);
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThanOrEqual(2);

    const edited = await engineWith([...base, v1]);
    const { value: result, texts } = await embedder.counted(() => edited.ingest([v2]));
    // what a full re-index does: every chunk of the document embedded again
    expect(texts, `${texts} texts embedded for a one-paragraph edit of ${next.length} chunks`).toBe(changed);
    expect(result).toMatchObject({ documents: 1, chunks: next.length, embedded: changed, reused: next.length - changed, replaced: 1 });
    expect(edited.bm25.stats().pendingPostings).toBe(0);

    const scratch = await engineWith([...base, v2]);
    await expectSameAnswers(edited, scratch);
    const hit = (await edited.query('zeppelin harbour pilots', { k: 1, mode: 'bm25' })).hits[0];
    expect(hit.docId).toBe('long');
    expect(hit.text).toContain('zeppelin crew waved');
    expect(await chunksOfLong(edited)).toEqual(await chunksOfLong(scratch));
  }, 300_000);

  it('a paragraph inserted near the start moves the later chunks: new positions and ids, as a fresh ingest gives', async () => {
    const v1 = longDoc(120);
    // six paragraphs from elsewhere in the corpus (about one chunk's worth) inserted after the third
    const v2 = longDoc(120, (p) => p.splice(3, 0, ...paras.slice(1000, 1006)));
    const edited = await engineWith([...base, v1]);
    const { value: result, texts } = await embedder.counted(() => edited.ingest([v2]));
    const d = diffChunks(chunkDocument(v1), chunkDocument(v2));
    expect(d.moved.length).toBeGreaterThan(10); // same text, new position: kept, but stored again
    expect(texts).toBe(d.added.length);
    expect(result.reused).toBe(d.same.length + d.moved.length);
    const scratch = await engineWith([...base, v2]);
    expect(await chunksOfLong(edited)).toEqual(await chunksOfLong(scratch));
    await expectSameAnswers(edited, scratch);
  }, 300_000);

  it('a retitled document is embedded and indexed again whole: the title is part of every chunk’s indexed text', async () => {
    const v1 = longDoc(60);
    const v2 = { ...v1, title: 'Zeppelin harbour chronicles' };
    const edited = await engineWith([...base, v1]);
    const { value: result, texts } = await embedder.counted(() => edited.ingest([v2]));
    expect(texts).toBe(result.chunks);
    expect(result.reused).toBe(0);
    const scratch = await engineWith([...base, v2]);
    await expectSameAnswers(edited, scratch);
    const hits = (await edited.query('zeppelin chronicles', { k: 50, mode: 'bm25', answer: false })).hits;
    expect(hits.length).toBeGreaterThan(0);
    for (const h of hits) expect(h.title).toBe('Zeppelin harbour chronicles');
    expect((await edited.query('collected', { k: 50, mode: 'bm25', answer: false, filter: { docId: 'long' } })).hits).toEqual([]);
  }, 300_000);

  it('changed metadata re-indexes the document, and filters see only the new values (also once the filter postings exist)', async () => {
    const v1 = longDoc(60);
    const v2 = { ...v1, metadata: { genre: 'chronicle', year: 1961 } };
    const edited = await engineWith([...base, v1]);
    // build the metadata postings before the edit, so the edit has to keep them right
    expect((await edited.query('passages', { k: 5, filter: { genre: 'anthology' } })).hits.length).toBeGreaterThan(0);
    const { value: result } = await embedder.counted(() => edited.ingest([v2]));
    expect(result.reused).toBe(0);
    expect((await edited.query('passages', { k: 50, filter: { genre: 'anthology' } })).hits).toEqual([]);
    const now = (await edited.query('passages', { k: 50, filter: { genre: 'chronicle' } })).hits;
    expect(now.length).toBeGreaterThan(0);
    for (const h of now) expect(h.metadata).toEqual({ genre: 'chronicle', year: 1961 });
    const scratch = await engineWith([...base, v2]);
    await expectSameAnswers(edited, scratch);
  }, 300_000);

  it('a document that shrinks loses its removed chunks from every search', async () => {
    const v1 = longDoc(300, (p) => (p[250] += ' Quetzalcoatl reigned over the marshes.'));
    const v2 = longDoc(150);
    const edited = await engineWith([...base, v1]);
    for (const mode of ['bm25', 'hybrid'] as const) {
      expect((await edited.query('quetzalcoatl marshes', { k: 5, mode })).hits[0].docId).toBe('long');
    }
    const { value: result, texts } = await embedder.counted(() => edited.ingest([v2]));
    const next = chunkDocument(v2);
    expect(result.chunks).toBe(next.length);
    expect(texts).toBe(diffChunks(chunkDocument(v1), next).added.length);
    expect(texts).toBeLessThanOrEqual(1); // at most the new last chunk
    expect((await edited.query('quetzalcoatl marshes', { k: 50, mode: 'bm25' })).hits).toEqual([]);
    const dense = (await edited.query('quetzalcoatl marshes', { k: 1000, mode: 'dense', answer: false, filter: { docId: 'long' } })).hits;
    expect(dense.length).toBe(next.length);
    expect(Math.max(...dense.map((h) => h.position))).toBe(next.length - 1);
    const scratch = await engineWith([...base, v2]);
    await expectSameAnswers(edited, scratch);
  }, 300_000);

  it('saves and loads after incremental edits (the document then holds several runs of labels), and edits again after loading', async () => {
    const v1 = longDoc(200);
    const v2 = longDoc(200, (p) => (p[60] += EDIT));
    const v3 = longDoc(200, (p) => {
      p[60] += EDIT;
      p[150] = 'The harbour pilots answered with a long blast of the horn.';
    });
    const edited = await engineWith([...base, v1]);
    await edited.ingest([v2]);
    const dir = join(root, 'saved');
    await edited.save(dir);
    const rows = (await readFile(join(dir, 'documents.jsonl'), 'utf8')).split('\n').filter((l) => l.startsWith('["long"'));
    expect(rows.length).toBe(1);
    expect(Array.isArray(JSON.parse(rows[0])[2])).toBe(true); // [id, metadata, [first, count, first, count, …]]
    const loaded = await loadEngine(dir, { embedder, llm: null });
    await expectSameAnswers(loaded, await engineWith([...base, v2]));
    // the kept chunks are now read from the saved file; edit again on top of them
    const { value: result, texts } = await embedder.counted(() => loaded.ingest([v3]));
    expect(texts).toBe(diffChunks(chunkDocument(v2), chunkDocument(v3)).added.length);
    expect(result.reused).toBe(result.chunks - texts);
    expect(texts).toBeLessThan(result.chunks / 4);
    const scratch = await engineWith([...base, v3]);
    await expectSameAnswers(loaded, scratch);
    await loaded.save(join(root, 'again'));
    await expectSameAnswers(await loadEngine(join(root, 'again'), { embedder, llm: null }), scratch);
  }, 300_000);

  it('replaying the same ingests on a saved snapshot (as the service replays its write-ahead log) gives the same engine', async () => {
    const v1 = longDoc(150);
    const edits = [longDoc(150, (p) => (p[40] += EDIT)), longDoc(150, (p) => (p[120] = 'Quay and harbour stood quiet.')), longDoc(90)];
    const live = await engineWith([...base, v1]);
    const snap = join(root, 'snapshot');
    await live.save(snap);
    for (const e of edits) await live.ingest([e]);
    const replayed = await loadEngine(snap, { embedder, llm: null });
    for (const e of edits) await replayed.ingest([e]);
    await live.save(join(root, 'live'));
    await replayed.save(join(root, 'replayed'));
    // same labels for the same chunks: the document files are identical
    const docsFile = async (d: string) => readFile(join(root, d, 'documents.jsonl'), 'utf8');
    expect(await docsFile('replayed')).toBe(await docsFile('live'));
    await expectSameAnswers(replayed, live);
    await expectSameAnswers(replayed, await engineWith([...base, edits[edits.length - 1]]));
  }, 300_000);

  it('a document removed while its new version is being prepared comes back whole (its kept chunks are embedded after all)', async () => {
    const v1 = longDoc(200);
    const v2 = longDoc(200, (p) => (p[100] += EDIT));
    const edited = await engineWith([...base, v1]);
    let removed = 0;
    // the ingest has paired the chunks and is embedding the changed one when the document is removed
    embedder.onNextEmbed = () => (removed = edited.remove(['long']).removed);
    const { value: result, texts } = await embedder.counted(() => edited.ingest([v2]));
    expect(removed).toBe(1);
    const next = chunkDocument(v2);
    expect(texts).toBe(next.length);
    expect(result).toMatchObject({ chunks: next.length, embedded: next.length, reused: 0, replaced: 0 });
    expect(edited.hasDocument('long')).toBe(true);
    const scratch = await engineWith([...base, v2]);
    expect(await chunksOfLong(edited)).toEqual(await chunksOfLong(scratch));
    await expectSameAnswers(edited, scratch);
  }, 300_000);

  it('re-ingesting an unchanged document embeds nothing; on the default HNSW engine BM25 answers still equal a fresh build', async () => {
    const v1 = longDoc(150);
    const v2 = longDoc(150, (p) => (p[75] += EDIT));
    const edited = await createEngine({ embedder, llm: null });
    await edited.ingest([...base, v1]);
    const same = await embedder.counted(() => edited.ingest([v1]));
    expect(same.texts).toBe(0);
    expect(same.value).toMatchObject({ embedded: 0, reused: chunkDocument(v1).length, replaced: 1 });
    await edited.ingest([v2]);
    const scratch = await createEngine({ embedder, llm: null });
    await scratch.ingest([...base, v2]);
    await expectSameAnswers(edited, scratch, ['bm25']);
    // dense lists come from different graphs (insertion order differs): approximately the same lists
    let common = 0;
    for (const q of QUERIES) {
      const a = (await edited.query(q, { k: 10, mode: 'dense', answer: false })).hits.map((h) => h.chunkId);
      const b = new Set((await scratch.query(q, { k: 10, mode: 'dense', answer: false })).hits.map((h) => h.chunkId));
      common += a.filter((id) => b.has(id)).length;
    }
    expect(common / (10 * QUERIES.length)).toBeGreaterThanOrEqual(0.9);
  }, 300_000);
});
