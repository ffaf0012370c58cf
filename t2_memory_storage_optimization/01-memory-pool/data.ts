/**
 * The workload for 01-memory-pool: the engine's BM25 postings over the real corpus, and queries cut from it.
 *
 * Chunks of the Brown corpus (grown with the engine's generator, shared/corpus/generate.ts, for the full size) are
 * analysed with the engine's analyzer into the postings the engine's `Bm25Index` holds, laid out flat (per term, its
 * postings' labels and term frequencies, compressed-sparse-row) with the engine's BM25 weights. The query path of the
 * lesson scores them term at a time, as `Bm25Index.search` does (the checkpoint checks the scores against it).
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { generateChunks, trainTextModel } from '../../shared/corpus/generate.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { splitSentences } from '../../shared/text/sentences.ts';
import type { Doc } from '../../shared/types.ts';
import { mulberry32 } from '../../shared/util/random.ts';

/**
 * An inverted index in compressed-sparse-row form, with the BM25 weights that do not depend on the query precomputed:
 * a query only looks terms up, reads their postings and adds.
 */
export interface Postings {
  /** Size of the label space: a label is in [0, labelCount). A score buffer indexed by label has this many slots. */
  readonly labelCount: number;
  /** Analysed term → term id. */
  readonly termIds: ReadonlyMap<string, number>;
  /** Term t's postings are `labels[offsets[t] .. offsets[t + 1])` (ascending labels) with their `tfs`. */
  readonly offsets: Int32Array;
  readonly labels: Int32Array;
  readonly tfs: Uint16Array;
  /** Per term: idf(t) · (k1 + 1), idf as the engine computes it (Lucene's). */
  readonly weight: Float64Array;
  /** Per label: k1 · (1 − b + b · length / average length), in float32 as the engine keeps it. */
  readonly norm: Float32Array;
}

export interface PostingsOptions {
  /** BM25 term-frequency saturation; the engine's default 1.2. */
  k1?: number;
  /** BM25 length normalisation; the engine's default 0.75. */
  b?: number;
  /**
   * Multiply every label by this (default 1): the same documents and postings in a label space `spacing` times
   * larger, as an engine's label space becomes after many updates (labels are never reused; shared/engine.ts).
   */
  spacing?: number;
}

/** Every text through the engine's default analyzer: the terms `Bm25Index.add` is given for it. */
export function analyzeAll(texts: readonly string[]): string[][] {
  return texts.map((t) => defaultAnalyzer.analyze(t));
}

/**
 * The postings of analysed documents (label i is docs[i], from `analyzeAll`) as the engine's `Bm25Index` holds them:
 * one posting per (term, document) with its term frequency, labels ascending, and the engine's BM25 weights
 * (Lucene's idf, k1 = 1.2, b = 0.75; the checkpoint checks the scores against `Bm25Index.search`).
 */
export function postingsOf(docs: readonly (readonly string[])[], opts: PostingsOptions = {}): Postings {
  const k1 = opts.k1 ?? 1.2;
  const b = opts.b ?? 0.75;
  const spacing = opts.spacing ?? 1;
  const termIds = new Map<string, number>();
  let tfScratch = new Int32Array(1024);
  let df = new Int32Array(1024);
  const docTerms: Int32Array[] = [];
  const docTfs: Uint16Array[] = [];
  const lengths = new Float64Array(docs.length);
  let totalLength = 0;
  docs.forEach((tokens, label) => {
    lengths[label] = tokens.length;
    totalLength += tokens.length;
    const seen: number[] = [];
    for (const token of tokens) {
      let id = termIds.get(token);
      if (id === undefined) {
        id = termIds.size;
        termIds.set(token, id);
        if (id === df.length) {
          tfScratch = grow(tfScratch);
          df = grow(df);
        }
      }
      if (tfScratch[id]++ === 0) seen.push(id);
    }
    const ids = Int32Array.from(seen);
    const tfs = new Uint16Array(ids.length);
    ids.forEach((id, j) => {
      tfs[j] = Math.min(tfScratch[id], 65_535);
      tfScratch[id] = 0;
      df[id]++;
    });
    docTerms.push(ids);
    docTfs.push(tfs);
  });
  const T = termIds.size;
  const n = docs.length;
  const offsets = new Int32Array(T + 1);
  const weight = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    offsets[t + 1] = offsets[t] + df[t];
    weight[t] = Math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * (k1 + 1);
  }
  const labels = new Int32Array(offsets[T]);
  const tfs = new Uint16Array(offsets[T]);
  const next = offsets.slice(0, T);
  for (let label = 0; label < n; label++) {
    const ids = docTerms[label];
    for (let j = 0; j < ids.length; j++) {
      const p = next[ids[j]]++;
      labels[p] = label * spacing;
      tfs[p] = docTfs[label][j];
    }
  }
  const labelCount = Math.max(1, n * spacing);
  const avg = n > 0 && totalLength > 0 ? totalLength / n : 1;
  const norm = new Float32Array(labelCount);
  for (let label = 0; label < n; label++) norm[label * spacing] = k1 * (1 - b) + ((k1 * b) / avg) * lengths[label];
  return { labelCount, termIds, offsets, labels, tfs, weight, norm };
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The engine's BM25 index over analysed documents (label i is docs[i], from `analyzeAll`). */
export function bm25Over(docs: readonly (readonly string[])[]): Bm25Index {
  const index = new Bm25Index();
  docs.forEach((tokens, label) => index.add(label, tokens));
  return index;
}

export interface CorpusSize {
  /** Brown documents (of 500), cut with the engine's default chunker. */
  docs: number;
  /** Grow to this many chunks with generated documents (a bigram model trained on the Brown documents). */
  chunks?: number;
}

export interface Corpus {
  docs: Doc[];
  /** What the engine indexes for each chunk (title + text), in label order. */
  texts: string[];
}

export async function loadCorpus(size: CorpusSize, log: (msg: string) => void = () => {}): Promise<Corpus> {
  log(`loading ${size.docs} Brown documents`);
  const docs = await loadBrown({ limit: size.docs });
  const texts = docs.flatMap((d) => chunkDocument(d)).map(indexText);
  if (size.chunks !== undefined && size.chunks > texts.length) {
    log(`growing ${texts.length} chunks to ${size.chunks} with generated documents (shared/corpus/generate.ts)`);
    const model = trainTextModel(docs);
    for (const c of generateChunks({ model, chunks: size.chunks - texts.length, seed: 42 })) texts.push(indexText(c));
  }
  return { docs, texts };
}

/**
 * `count` queries cut from the documents' sentences (seeded): 4 to 10 consecutive words, each with at least two
 * terms for the engine's analyzer. Returned as the text a user would type.
 */
export function samplePhrases(docs: readonly Doc[], count: number, seed = 7): string[] {
  const rand = mulberry32(seed);
  const sentences = docs.flatMap((d) => splitSentences(d.text));
  const out: string[] = [];
  for (let tries = 0; out.length < count && tries < count * 50; tries++) {
    const words = sentences[Math.floor(rand() * sentences.length)].split(/\s+/);
    const len = 4 + Math.floor(rand() * 7);
    const start = Math.floor(rand() * Math.max(1, words.length - len + 1));
    const phrase = words.slice(start, start + len).join(' ');
    if (defaultAnalyzer.analyze(phrase).length >= 2) out.push(phrase);
  }
  return out;
}

/** `samplePhrases`, analysed: the terms a BM25 query looks up. */
export function sampleQueries(docs: readonly Doc[], count: number, seed = 7): string[][] {
  return samplePhrases(docs, count, seed).map((p) => defaultAnalyzer.analyze(p));
}
