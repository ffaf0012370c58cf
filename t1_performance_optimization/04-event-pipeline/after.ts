/**
 * chunk → embed → index as a stream pipeline with backpressure (node:stream in object mode + `stream/promises`):
 *
 *   Readable.from(docs) → chunker (Transform) → embedder (Transform, batches) → indexer (Writable) → sink
 *
 * Every stream has a small buffer (`highWaterMark`, counted in objects). When a buffer is full, `push`/`write`
 * return false and the stream machinery stops calling the stage upstream until the buffer drains: a slow stage
 * slows everything before it instead of letting work pile up. The indexer calls its callback only after the sink
 * has finished with a batch, which is what carries backpressure all the way back to the source.
 *
 * So at any moment only a few batches are in flight (peak memory is bounded by the buffers, not by the corpus),
 * each stage runs as soon as there is input (no polling interval), the event loop gets a turn between batches, and
 * `pipeline` rejects on the first error in any stage and destroys the others.
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
      try {
        pending.push(chunk);
        if (pending.length === batchSize) embedBatch(this);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        if (pending.length > 0) embedBatch(this);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });

  const indexer = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(batch: IndexedBatch, _enc, done) {
      (async () => {
        indexStage(batch, out, opts);
        await opts.sink?.(batch);
        gauge.consume(batch.chunks.length);
        batches++;
        await yieldToEventLoop(); // let timers and I/O run between batches
      })().then(() => done(), done);
    },
  });

  await pipeline(Readable.from(docs, { objectMode: true, highWaterMark: 1 }), chunker, embedder, indexer);
  return { ...out, stats: { batches, maxBuffered: gauge.max } };
}
