/**
 * What before.ts and after.ts share: the three stages' work (chunk, embed a batch, index a batch), the result type,
 * and the gauge that counts how many chunks are in flight between stages. The lesson is about how the stages are
 * CONNECTED (polled arrays vs streams with backpressure), so the work itself is written once, here.
 */
import { chunkDocument, validateDoc, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk, Doc } from '../../shared/types.ts';

/** The embedding stage's contract: rows in input order (SifEmbedder fits it). */
export interface BatchEmbedder {
  readonly dim: number;
  embedSync(texts: string[]): Float32Array[];
}

export interface PipelineOptions {
  /** A fitted embedder (e.g. `createDefaultEmbedder()` then `fit`), so vectors do not depend on arrival order. */
  embedder: BatchEmbedder;
  /** Analyzer for BM25 terms. Default: the engine's default analyzer. */
  analyzer?: Analyzer;
  /** Chunking bounds. Default: the engine's (200 / 40 tokens). */
  chunk?: ChunkOptions;
  /** Chunks per embedding batch. Default 64. */
  batchSize?: number;
  /** Chunks buffered between the chunk and embed stages before the chunker pauses (after.ts only). Default 64. */
  highWaterMark?: number;
  /**
   * Called with every batch once it is indexed, before the next one is taken (persisting it, replicating it...).
   * An async sink that is slower than the stages upstream is where backpressure matters. Default: none.
   */
  sink?: (batch: IndexedBatch) => void | Promise<void>;
}

/** One embedding batch on its way to (and through) the index stage. Labels are the chunks' positions in the output. */
export interface IndexedBatch {
  labels: number[];
  chunks: Chunk[];
  vectors: Float32Array[];
}

export interface PipelineResult {
  /** chunks[label]: every chunk, in document order then position order. */
  chunks: Chunk[];
  bm25: Bm25Index;
  vectors: FlatIndex;
  stats: {
    batches: number;
    /** Most chunks ever in flight: cut by the chunk stage but not yet through the sink. */
    maxBuffered: number;
  };
}

/** Counts chunks between "produced by the chunk stage" and "consumed by the sink". */
export class BufferGauge {
  private produced = 0;
  private consumed = 0;
  max = 0;

  produce(n: number): void {
    this.produced += n;
    if (this.produced - this.consumed > this.max) this.max = this.produced - this.consumed;
  }

  consume(n: number): void {
    this.consumed += n;
  }
}

/** Stage 1: one document → its chunks. Validates first, so bad input fails the pipeline with a RagError. */
export function chunkStage(doc: unknown, index: number, opts: PipelineOptions): Chunk[] {
  return chunkDocument(validateDoc(doc, index), opts.chunk);
}

/** Stage 2: a batch of chunks → their vectors, labels given in arrival order from `firstLabel`. */
export function embedStage(chunks: Chunk[], firstLabel: number, opts: PipelineOptions): IndexedBatch {
  const vectors = opts.embedder.embedSync(chunks.map(indexText));
  if (vectors.length !== chunks.length) throw new Error(`embedder returned ${vectors.length} rows for ${chunks.length} texts`);
  return { labels: chunks.map((_, i) => firstLabel + i), chunks, vectors };
}

/** The indexes stage 3 writes into. */
export function newOutput(opts: PipelineOptions): Pick<PipelineResult, 'chunks' | 'bm25' | 'vectors'> {
  return { chunks: [], bm25: new Bm25Index(), vectors: new FlatIndex({ dim: opts.embedder.dim }) };
}

/** Stage 3: a batch → BM25 terms and vectors, under its labels. */
export function indexStage(batch: IndexedBatch, out: Pick<PipelineResult, 'chunks' | 'bm25' | 'vectors'>, opts: PipelineOptions): void {
  const analyzer = opts.analyzer ?? defaultAnalyzer;
  batch.chunks.forEach((chunk, i) => {
    out.chunks[batch.labels[i]] = chunk;
    out.bm25.add(batch.labels[i], analyzer.analyze(indexText(chunk)));
  });
  out.vectors.add(batch.labels, batch.vectors);
}
