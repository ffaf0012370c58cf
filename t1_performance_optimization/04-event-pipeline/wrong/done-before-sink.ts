/**
 * Wrong (on purpose): the stream pipeline of after.ts, except that the indexer calls `done()` as soon as it has
 * indexed a batch and lets the sink run in the background (its promises are awaited at the very end, so the result is
 * still complete and correct). `done()` is how a Writable tells the streams upstream "ready for the next one": called
 * before the sink has finished, it says so while the sink is still busy, so a slow sink never slows the chunker and
 * every batch of the corpus piles up in front of it. Backpressure stops at the indexer.
 *
 * What differs from after.ts: the indexer's `write` (done() before the sink, no turn of the event loop). runPipeline
 * builds its streams inside one function and after.ts exports none of them (exporting them would make exercise.ts
 * export them too, and give the solution away), so runPipeline is kept here as a copy with that stream changed.
 *
 * @rejected-with 491 chunks in flight, bound 90
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Chunk, Doc } from '../../../shared/types.ts';
import { BufferGauge, chunkStage, embedStage, indexStage, newOutput, type IndexedBatch, type PipelineOptions, type PipelineResult } from '../stages.ts';

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
    writableHighWaterMark: 1,
    readableHighWaterMark: highWaterMark,
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
    readableHighWaterMark: 1,
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

  const sinking: Promise<void>[] = [];
  const indexer = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(batch: IndexedBatch, _enc, done) {
      try {
        indexStage(batch, out, opts);
        sinking.push(
          Promise.resolve(opts.sink?.(batch)).then(() => {
            gauge.consume(batch.chunks.length);
            batches++;
          }),
        );
        done(); // the sink has not finished: upstream hears "ready" too early
      } catch (err) {
        done(err as Error);
      }
    },
  });

  await pipeline(Readable.from(docs, { objectMode: true, highWaterMark: 1 }), chunker, embedder, indexer);
  await Promise.all(sinking);
  return { ...out, stats: { batches, maxBuffered: gauge.max } };
}
