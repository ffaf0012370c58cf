/**
 * 07-model-parallelism, before: the whole encoder in one onnxruntime session on the calling thread, the way an
 * embedding service is first written. A call's texts are cut into micro-batches (as in every version, so the rows are
 * the same) and run one after another: onnxruntime-node's `session.run` computes synchronously on the thread that
 * calls it (in a `setImmediate`), so one session on one thread is one core's worth of throughput however many
 * requests wait, and the thread does nothing else while it computes. Nothing crosses a thread boundary.
 */
import { buildEncoderFromWeights } from '../../shared/model/encoder.ts';
import { SENTENCE_EMBEDDING } from '../../shared/model/encoder-stages.ts';
import { openSession } from '../../shared/model/session.ts';
import { DEFAULT_MICRO_BATCH, embedInMicroBatches, fromOrt, positiveInt, toOrt } from './micro-batch.ts';
import type { EncoderService, EncoderServiceOptions, StageThread } from './types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

/** No stage threads: the model runs where `embed` is called. */
export const STAGES: number = 0;

export async function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  const microBatch = positiveInt(opts.microBatch, DEFAULT_MICRO_BATCH, 'microBatch');
  const session = await openSession(buildEncoderFromWeights(opts.weights));
  let closed = false;
  return {
    threads: [],
    async embed(lists) {
      if (closed) throw new Error('encoder service: closed');
      // every micro-batch handed to the session at once: each run waits for a setImmediate and then computes
      // synchronously, so they run one after the other, on this thread
      return embedInMicroBatches(lists, microBatch, async (feeds) => fromOrt((await session.run(toOrt(feeds)))[SENTENCE_EMBEDDING]));
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
