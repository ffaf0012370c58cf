/**
 * chunk → embed → index, connected the way it is usually written first: three arrays between the stages and a
 * `setInterval` per stage that polls its input array and processes whatever it finds there.
 *
 * It works, and it is easy to read. But nothing tells a stage to slow down when the next one is behind: the chunker
 * cuts the whole corpus in its first tick, the embedder then embeds all of it, and only then does indexing start.
 * Every chunk and every vector of the corpus is alive at once (peak memory grows with the corpus, not with a batch),
 * each tick blocks the event loop for a whole stage, and stages idle between ticks waiting for the next poll.
 */
import type { Chunk, Doc } from '../../shared/types.ts';
import {
  BufferGauge,
  chunkStage,
  embedStage,
  indexStage,
  newOutput,
  type IndexedBatch,
  type PipelineOptions,
  type PipelineResult,
} from './stages.ts';

/** How often each stage looks at its input array, ms. */
export const POLL_MS = 5;

export function runPipeline(docs: Iterable<Doc>, opts: PipelineOptions): Promise<PipelineResult> {
  const batchSize = opts.batchSize ?? 64;
  const out = newOutput(opts);
  const gauge = new BufferGauge();
  const toChunk = [...docs];
  const toEmbed: Chunk[] = [];
  const toIndex: IndexedBatch[] = [];
  let chunkingDone = false;
  let embeddingDone = false;
  let docIndex = 0;
  let nextLabel = 0;
  let batches = 0;

  return new Promise<PipelineResult>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const stop = () => timers.forEach(clearInterval);
    const fail = (err: unknown) => {
      stop();
      reject(err);
    };

    // stage 1: chunk every document waiting
    timers.push(
      setInterval(() => {
        try {
          while (toChunk.length > 0) {
            const chunks = chunkStage(toChunk.shift(), docIndex++, opts);
            toEmbed.push(...chunks);
            gauge.produce(chunks.length);
          }
          chunkingDone = true;
        } catch (err) {
          fail(err);
        }
      }, POLL_MS),
    );

    // stage 2: embed full batches (and the last partial one once chunking is done)
    timers.push(
      setInterval(() => {
        try {
          while (toEmbed.length >= batchSize || (chunkingDone && toEmbed.length > 0)) {
            const chunks = toEmbed.splice(0, batchSize);
            toIndex.push(embedStage(chunks, nextLabel, opts));
            nextLabel += chunks.length;
          }
          if (chunkingDone) embeddingDone = true;
        } catch (err) {
          fail(err);
        }
      }, POLL_MS),
    );

    // stage 3: index every batch waiting, one sink call at a time
    let busy = false;
    timers.push(
      setInterval(async () => {
        if (busy) return;
        busy = true;
        try {
          while (toIndex.length > 0) {
            const batch = toIndex.shift()!;
            indexStage(batch, out, opts);
            await opts.sink?.(batch);
            gauge.consume(batch.chunks.length);
            batches++;
          }
          if (embeddingDone && toIndex.length === 0) {
            stop();
            resolve({ ...out, stats: { batches, maxBuffered: gauge.max } });
          }
        } catch (err) {
          fail(err);
        } finally {
          busy = false;
        }
      }, POLL_MS),
    );
  });
}
