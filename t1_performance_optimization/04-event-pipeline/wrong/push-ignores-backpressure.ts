/**
 * Wrong (on purpose): streams, but the source ignores them. The chunker is a Readable whose `read()` chunks every
 * document and pushes every chunk in one go, ignoring what `push()` returns (false: "my buffer is full, stop until
 * read() is called again"). The embedder and the indexer downstream are those of after.ts and do wait, but by then the
 * whole corpus is already sitting in the chunker's buffer: a highWaterMark only bounds a stream whose producer
 * listens to it.
 *
 * What differs from after.ts: the source and the chunker (one Readable that pushes every chunk at once, in place of
 * Readable.from(docs) and the Transform). runPipeline builds its streams inside one function and after.ts exports none
 * of them (exporting them would make exercise.ts export them too, and give the solution away), so runPipeline is kept
 * here as a copy with those streams changed.
 *
 * @rejected-with 491 chunks in flight, bound 90
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Chunk, Doc } from '../../../shared/types.ts';
import { BufferGauge, chunkStage, embedStage, indexStage, newOutput, type IndexedBatch, type PipelineOptions, type PipelineResult } from '../stages.ts';

export async function runPipeline(docs: Iterable<Doc>, opts: PipelineOptions): Promise<PipelineResult> {
  const batchSize = opts.batchSize ?? 64;
  const highWaterMark = opts.highWaterMark ?? 64;
  const out = newOutput(opts);
  const gauge = new BufferGauge();
  let nextLabel = 0;
  let batches = 0;

  let started = false;
  const chunker = new Readable({
    objectMode: true,
    highWaterMark,
    read() {
      if (started) return;
      started = true;
      try {
        let docIndex = 0;
        for (const doc of docs) {
          const chunks = chunkStage(doc, docIndex++, opts);
          gauge.produce(chunks.length);
          for (const c of chunks) this.push(c); // push() returns false once the buffer is full: ignored
        }
        this.push(null);
      } catch (err) {
        this.destroy(err as Error);
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

  const indexer = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(batch: IndexedBatch, _enc, done) {
      (async () => {
        indexStage(batch, out, opts);
        await opts.sink?.(batch);
        gauge.consume(batch.chunks.length);
        batches++;
        await nextTurn();
      })().then(() => done(), done);
    },
  });

  await pipeline(chunker, embedder, indexer);
  return { ...out, stats: { batches, maxBuffered: gauge.max } };
}
