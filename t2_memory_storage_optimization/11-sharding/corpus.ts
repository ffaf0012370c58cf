/**
 * The workload for 11-sharding, from the engine's own pieces: Brown documents (and, past Brown's ~6,500 chunks,
 * documents generated from a bigram model trained on Brown) cut by `chunkDocument`, indexed under `indexText`
 * (title + text), embedded with the SIF embedder over GloVe-100d into one matrix in a SharedArrayBuffer (so the shard
 * threads read it without a copy). Queries are real Brown sentences, analysed by the engine's analyzer and embedded by
 * the same embedder. Label i is chunk i.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { generateChunks, trainTextModel } from '../../shared/corpus/generate.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { splitSentences } from '../../shared/text/sentences.ts';
import type { Chunk, Doc } from '../../shared/types.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { Corpus, Query } from './after.ts';

export interface CorpusOptions {
  /** Chunks to index: Brown's first, then generated ones (seeded) up to this many. */
  chunks: number;
  /** Query sentences to draw. */
  queries: number;
  /** Progress lines. */
  log?: (msg: string) => void;
  seed?: number;
}

export interface Workload {
  corpus: Corpus;
  queries: Query[];
  /** The query sentences, for messages. */
  queryTexts: string[];
}

/** Brown gives about 13 chunks a document (500 documents, ~6,500 chunks). */
const BROWN_DOCS = 500;

/** `n` chunks: Brown's (in file order), then generated ones; and the Brown documents read. */
async function chunksFor(n: number, log: (m: string) => void): Promise<{ chunks: Chunk[]; docs: Doc[] }> {
  // read only as many Brown files as n needs (with a margin), all of them when generated chunks follow
  const docs = await loadBrown({ limit: Math.min(BROWN_DOCS, Math.ceil(n / 10) + 20) });
  const out: Chunk[] = [];
  for (const d of docs) {
    for (const c of chunkDocument(d)) {
      if (out.length === n) return { chunks: out, docs };
      out.push(c);
    }
  }
  const all = docs.length < BROWN_DOCS ? await loadBrown() : docs;
  for (const d of all.slice(docs.length)) {
    for (const c of chunkDocument(d)) {
      if (out.length === n) return { chunks: out, docs: all };
      out.push(c);
    }
  }
  log(`generating ${n - out.length} chunks from a bigram model of Brown`);
  for (const c of generateChunks({ model: trainTextModel(all), chunks: n - out.length, seed: 11 })) out.push(c);
  return { chunks: out, docs: all };
}

export async function loadWorkload(opts: CorpusOptions): Promise<Workload> {
  const log = opts.log ?? (() => {});
  log(`loading ${opts.chunks} chunks`);
  const { chunks, docs } = await chunksFor(opts.chunks, log);
  const texts = chunks.map(indexText);
  log(`embedding ${texts.length} chunks (SIF over GloVe-100d)`);
  const embedder = await createDefaultEmbedder();
  await embedder.fit(texts);
  const dim = embedder.dim;
  const matrix = new Float32Array(new SharedArrayBuffer(texts.length * dim * 4));
  const BATCH = 4096;
  for (let i = 0; i < texts.length; i += BATCH) {
    const rows = embedder.embedSync(texts.slice(i, i + BATCH));
    for (let r = 0; r < rows.length; r++) matrix.set(rows[r], (i + r) * dim);
  }
  // queries: real sentences of 5 to 25 words from the Brown documents read, in a seeded random order
  const sentences = docs.slice(0, 200).flatMap((d) => splitSentences(d.text)).filter((s) => {
    const words = s.split(/\s+/).length;
    return words >= 5 && words <= 25;
  });
  const rand = mulberry32(opts.seed ?? 11);
  const queryTexts: string[] = [];
  while (queryTexts.length < opts.queries) {
    const s = sentences[Math.floor(rand() * sentences.length)];
    if (defaultAnalyzer.analyze(s).length > 0) queryTexts.push(s);
  }
  const vectors = embedder.embedSync(queryTexts);
  const queries = queryTexts.map((t, i): Query => ({ tokens: defaultAnalyzer.analyze(t), vector: vectors[i].slice() }));
  return { corpus: { texts, matrix, dim }, queries, queryTexts };
}
