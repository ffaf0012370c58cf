/**
 * EXERCISE 04-event-pipeline — connect chunk → embed → index as streams with backpressure. Check with:
 * npm run checkpoint -- 04-event-pipeline
 *
 * The source, the chunker and `pipeline(...)` are done. Two parts are missing (search for TODO):
 *
 * 1. the embedder Transform: collect chunks into `pending`, and every `batchSize` chunks call `embedBatch(this)`
 *    (it embeds, labels and pushes the batch); in `flush`, embed the last partial batch. Pass errors to `done`.
 * 2. the indexer Writable: index the batch (`indexStage`), await the sink, count the chunks as consumed
 *    (`gauge.consume`), and only THEN call `done`. Calling `done` before the sink has finished tells the stream the
 *    batch is handled, and batches pile up behind a slow sink: no backpressure.
 *
 * The solution is in after.ts; try first.
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Chunk, Doc } from '../../shared/types.ts';
import { BufferGauge, chunkStage, embedStage, indexStage, newOutput, type IndexedBatch, type PipelineOptions, type PipelineResult } from './stages.ts';

export async function runPipeline(docs: Iterable<Doc>, opts: PipelineOptions): Promise<PipelineResult> {
  const batchSize = opts.batchSize ?? 64;
  const highWaterMark = opts.highWaterMark ?? 64;
  const out = newOutput(opts);
  const gauge = new BufferGauge();
  let docIndex = 0;
  let nextLabel = 0;
  let batches = 0;

  const chunker = new Transform({
    objectMode: true,
    writableHighWaterMark: 1, // documents waiting to be chunked
    readableHighWaterMark: highWaterMark, // chunks waiting to be embedded
    transform(doc: Doc, _enc, done) {
      try {
        const chunks = chunkStage(doc, docIndex++, opts);
        gauge.produce(chunks.length);
        for (const c of chunks) this.push(c);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });

  let pending: Chunk[] = [];
  const embedBatch = (stream: Transform) => {
    const batch = embedStage(pending, nextLabel, opts);
    nextLabel += pending.length;
    pending = [];
    stream.push(batch);
  };
  const embedder = new Transform({
    objectMode: true,
    writableHighWaterMark: 1,
    readableHighWaterMark: 1, // one embedded batch waiting for the indexer
    transform(chunk: Chunk, _enc, done) {
      // TODO(1): add `chunk` to `pending`; when it holds `batchSize` chunks, embedBatch(this). Then done() (or done(err)).
      done(new Error('TODO(04-event-pipeline, step 1): batch the chunks and embed them in the embedder Transform'));
    },
    flush(done) {
      // TODO(1): embed what is left in `pending` (the last, partial batch), then done().
      done(new Error('TODO(04-event-pipeline, step 1): embed the last partial batch in flush'));
    },
  });

  const indexer = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(batch: IndexedBatch, _enc, done) {
      // TODO(2): indexStage(batch, out, opts); await opts.sink?.(batch); gauge.consume(batch.chunks.length);
      //          batches++; await yieldToEventLoop(); and only then done() — or done(err) if anything threw.
      done(new Error('TODO(04-event-pipeline, step 2): index the batch and call done only after the sink finished'));
    },
  });

  await pipeline(Readable.from(docs, { objectMode: true, highWaterMark: 1 }), chunker, embedder, indexer);
  return { ...out, stats: { batches, maxBuffered: gauge.max } };
}
