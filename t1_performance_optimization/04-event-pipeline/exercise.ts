/**
 * EXERCISE 04-event-pipeline — connect chunk → embed → index so that memory in flight stays bounded.
 *
 * As shipped it is correct and naive: one stage at a time over the whole corpus (chunk every document, then embed
 * every batch, then index and sink every batch). It builds the right indexes, and it holds the whole corpus in
 * flight and never lets the event loop turn until the end. The checkpoint accepts the results and rejects the cost:
 *
 *   - chunks in flight (taken from the source, not yet through the sink) must stay within
 *     highWaterMark + two documents' chunks + 4 batches when the sink is slow, whatever the corpus size: the
 *     checkpoint counts them with its own source and sink and reports "491 chunks in flight, bound 90";
 *   - the event loop must get a turn between batches: at most 2 batches may reach the sink without one.
 *
 * What must hold as well: the same `runPipeline(docs, opts)` → `{ chunks, bm25, vectors, stats }` as after.ts; label i
 * is the i-th chunk in document order, with the same vectors and BM25 terms as a plain sequential loop, for any
 * batch size; the documents are taken from `docs` as an iterable (it may be a generator: iterate it once); the sink
 * sees every batch once, in order; a failing sink, a failing embedder or a malformed document rejects the returned
 * promise with that error. The stages' work is in stages.ts; how they are connected is yours.
 *
 * Measure yours beside before and after (the headline is chunks in flight):
 *   npm run t1 -- --only 04-event-pipeline --impl exercise --quick
 * Check it: npm run checkpoint -- 04-event-pipeline
 * Stuck? npm run hint -- 04-event-pipeline
 */
import type { Chunk, Doc } from '../../shared/types.ts';
import { BufferGauge, chunkStage, embedStage, indexStage, newOutput, type IndexedBatch, type PipelineOptions, type PipelineResult } from './stages.ts';

export async function runPipeline(docs: Iterable<Doc>, opts: PipelineOptions): Promise<PipelineResult> {
  const batchSize = opts.batchSize ?? 64;
  const out = newOutput(opts);
  const gauge = new BufferGauge();

  // stage 1: chunk every document
  const chunks: Chunk[] = [];
  let docIndex = 0;
  for (const doc of docs) {
    const cut = chunkStage(doc, docIndex++, opts);
    gauge.produce(cut.length);
    chunks.push(...cut);
  }

  // stage 2: embed every batch (labels in arrival order)
  const batches: IndexedBatch[] = [];
  for (let i = 0; i < chunks.length; i += batchSize) batches.push(embedStage(chunks.slice(i, i + batchSize), i, opts));

  // stage 3: index every batch and hand it to the sink
  for (const batch of batches) {
    indexStage(batch, out, opts);
    await opts.sink?.(batch);
    gauge.consume(batch.chunks.length);
  }

  return { ...out, stats: { batches: batches.length, maxBuffered: gauge.max } };
}
