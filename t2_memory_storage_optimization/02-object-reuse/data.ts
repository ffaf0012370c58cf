/**
 * The workload for 02-object-reuse: the candidate lists a hybrid query fuses, from the engine's own retrievers over
 * the real corpus. Per query (phrases cut from Brown sentences), the BM25 top-`depth` (`Bm25Index.search`) and the
 * dense top-`depth` (`FlatIndex.search` over SIF GloVe embeddings, `createDefaultEmbedder`): the two ranked lists
 * `Engine.query` hands to fusion in hybrid mode, at the depth a reranking pipeline asks for.
 *
 * The corpus and query helpers are 01-memory-pool's (the same chunks and phrases).
 */
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { analyzeAll, bm25Over, loadCorpus, samplePhrases, type CorpusSize } from '../01-memory-pool/data.ts';

export interface WorkloadSize extends CorpusSize {
  /** Candidates each retriever returns per query. */
  depth: number;
  /** Queries (each gives one pair of lists). */
  queries: number;
}

export interface Workload {
  chunks: number;
  /** Per query: [BM25 hits, dense hits], each best first, at most `depth` long. */
  lists: ScoredLabel[][][];
}

export async function loadWorkload(size: WorkloadSize, log: (msg: string) => void = () => {}): Promise<Workload> {
  const corpus = await loadCorpus(size, log);
  log(`indexing ${corpus.texts.length} chunks: Bm25Index, and SIF GloVe embeddings in a FlatIndex`);
  const bm25 = bm25Over(analyzeAll(corpus.texts));
  const embedder = await createDefaultEmbedder();
  await embedder.fit(corpus.texts);
  const vectors = embedder.embedSync(corpus.texts);
  const dense = new FlatIndex(embedder.dim);
  dense.add(vectors.map((_, i) => i), vectors);
  const phrases = samplePhrases(corpus.docs, size.queries, 11);
  const queryVectors = embedder.embedSync(phrases);
  const lists = phrases.map((p, i) => [bm25.search(defaultAnalyzer.analyze(p), size.depth), dense.search(queryVectors[i], size.depth)]);
  return { chunks: corpus.texts.length, lists };
}
