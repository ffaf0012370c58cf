/**
 * The index every version of this lesson builds and searches: the engine's parts (chunker, analyzer, SIF embedder,
 * `Bm25Index`, exact `FlatIndex`), put together the way `Engine.ingest` does, without the engine's queueing and time
 * slicing (nothing queries this index while it is updated). before.ts, after.ts and exercise.ts differ only in how
 * `updateIndex` brings it to a new version of the corpus; searching is this file's, the same for all.
 *
 * Labels are positions in `chunks`: a new chunk gets the next one, a removed chunk leaves `undefined` behind.
 *
 * The vector index is the exact one on purpose: an exact index holding the same vectors answers the same, however it
 * was built, so "the updated index answers exactly as a full rebuild" is a claim the checkpoint can test. (An HNSW
 * graph depends on insertion order: updated in place it answers about as well as a rebuilt one, not identically.)
 */
import { chunkDocument, indexText, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { isZeroVector } from '../../shared/embed/sif.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk, Doc, Embedder, Metadata } from '../../shared/types.ts';

export interface IndexDeps {
  /**
   * Fitted once, before the first build, and frozen: no version of `updateIndex` fits it again. (SIF learns a
   * principal component from the corpus; fitting it again would move every vector, and then every chunk must be
   * embedded again, incremental or not.)
   */
  embedder: Embedder;
  analyzer: Analyzer;
  /** Chunker options (default: the engine's, 200 words with 40 of overlap). */
  chunk?: ChunkOptions;
}

export interface CorpusIndex {
  readonly deps: IndexDeps;
  bm25: Bm25Index;
  vectors: FlatIndex;
  /** label → chunk; `undefined` where a chunk was removed. */
  chunks: (Chunk | undefined)[];
}

export type SearchMode = 'bm25' | 'dense';

export interface Hit {
  chunkId: string;
  docId: string;
  position: number;
  title?: string;
  metadata: Metadata;
  /** BM25 score, or cosine similarity for dense. */
  score: number;
}

/** Chunks embedded per call of the embedder. */
export const EMBED_BATCH = 64;

export function emptyIndex(deps: IndexDeps): CorpusIndex {
  return { deps, bm25: new Bm25Index(), vectors: new FlatIndex(deps.embedder.dim), chunks: [] };
}

/** The last version of each document id, at the place of its first appearance (as `Engine.ingest` takes a batch). */
export function latestVersions(docs: Iterable<Doc>): Doc[] {
  const byId = new Map<string, Doc>();
  for (const doc of docs) byId.set(doc.id, doc);
  return [...byId.values()];
}

/** The document's chunks, cut with the index's chunker options. */
export function chunksOf(index: CorpusIndex, doc: Doc): Chunk[] {
  return chunkDocument(doc, index.deps.chunk);
}

/**
 * Analyses, embeds (in batches of EMBED_BATCH) and indexes `chunks` under new labels, in order; returns the labels.
 * Every chunk given here costs one embedding: the cost the lesson counts.
 */
export async function indexChunks(index: CorpusIndex, chunks: readonly Chunk[]): Promise<number[]> {
  const { analyzer, embedder } = index.deps;
  const labels: number[] = [];
  for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
    const batch = chunks.slice(i, i + EMBED_BATCH);
    const texts = batch.map(indexText);
    const vectors = await embedder.embed(texts);
    const batchLabels = batch.map((chunk, j) => {
      const label = index.chunks.length;
      index.chunks.push(chunk);
      index.bm25.add(label, analyzer.analyze(texts[j]));
      return label;
    });
    index.vectors.add(batchLabels, vectors);
    labels.push(...batchLabels);
  }
  return labels;
}

/** Removes chunks from both indexes and the chunk table. */
export function removeChunks(index: CorpusIndex, labels: readonly number[]): void {
  for (const label of labels) {
    index.bm25.remove(label);
    index.chunks[label] = undefined;
  }
  index.vectors.remove([...labels]);
}

/** The k best chunks for `text` by BM25 or by dense similarity, best first. */
export async function search(index: CorpusIndex, text: string, k: number, mode: SearchMode): Promise<Hit[]> {
  let list;
  if (mode === 'bm25') {
    list = index.bm25.search(index.deps.analyzer.analyze(text), k);
  } else {
    const [vector] = await index.deps.embedder.embed([text]);
    list = isZeroVector(vector) ? [] : index.vectors.search(vector, k);
  }
  return list.map(({ label, score }) => {
    const c = index.chunks[label];
    if (c === undefined) throw new Error(`label ${label} was returned by the ${mode} index but holds no chunk`);
    const hit: Hit = { chunkId: c.id, docId: c.docId, position: c.position, metadata: c.metadata, score };
    if (c.title !== undefined) hit.title = c.title;
    return hit;
  });
}
