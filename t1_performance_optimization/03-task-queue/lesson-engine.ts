/** The engine the lesson's services index into, and a way to compare two of them. */
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { Engine } from '../../shared/engine.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { Chunk } from '../../shared/types.ts';

/**
 * A RAG engine for the lesson: BM25 + exact (flat) vector index, a SIF embedder fitted beforehand (so the order in
 * which documents arrive cannot change any vector), no LLM. Upserts are by document id: `engine.ingest([doc])` with
 * an id already present replaces its chunks, which is what makes processing a document twice harmless.
 */
export function createLessonEngine(sif: SifEmbedder): Engine {
  const embedder = { name: sif.name, dim: sif.dim, embed: (texts: string[]) => sif.embed(texts) };
  return new Engine({ llm: null }, embedder, new Bm25Index(), new FlatIndex({ dim: sif.dim }));
}

/** Every live chunk of the engine, sorted by document id then position: two engines holding the same documents give equal snapshots. */
export function snapshot(engine: Engine): Chunk[] {
  const labels = (engine.vectors as FlatIndex).labels();
  const chunks = labels.map((l) => engine.chunk(l)).filter((c): c is Chunk => c !== undefined);
  return chunks.sort((a, b) => (a.docId < b.docId ? -1 : a.docId > b.docId ? 1 : a.position - b.position));
}

