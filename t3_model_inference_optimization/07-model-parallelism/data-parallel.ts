/**
 * 07-model-parallelism, the honest comparison: data parallelism. Two worker threads, each with the WHOLE model in
 * its own session (one intra-op thread), and each micro-batch handed to the thread with the fewest micro-batches
 * outstanding; at most `window` in flight, the rest waiting on the main thread. Same interface as after.ts.
 *
 * On two cores it uses the same compute as the pipeline, but a micro-batch crosses one thread boundary each way
 * instead of three, never waits for a second thread, and no hidden states move: at low load its latency is one
 * whole-model run, at full load two micro-batches run at once. What it costs is memory: each thread holds every
 * weight (2 × the model), where the pipeline's two stages hold the model once between them.
 */
import { buildEncoderFromWeights } from '../../shared/model/encoder.ts';
import { SENTENCE_EMBEDDING } from '../../shared/model/encoder-stages.ts';
import { DEFAULT_MICRO_BATCH, DEFAULT_WINDOW, embedInMicroBatches, positiveInt } from './micro-batch.ts';
import { buffersOf, startStages, type StageThread, type WireFeeds, type WireTensor } from './stage-thread.ts';
import type { EncoderService, EncoderServiceOptions } from './types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

/** Whole-model threads: one per core. */
export const STAGES: number = 2;

interface Job {
  feeds: WireFeeds;
  resolve: (rows: WireTensor) => void;
  reject: (err: Error) => void;
}

export async function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  const microBatch = positiveInt(opts.microBatch, DEFAULT_MICRO_BATCH, 'microBatch');
  const window = positiveInt(opts.window, DEFAULT_WINDOW, 'window');
  const model = buildEncoderFromWeights(opts.weights);
  const threads = await startStages(Array.from({ length: STAGES }, (_, i) => ({ model, name: `whole model #${i + 1}` })));
  const outstanding = threads.map(() => 0);
  const waiting: Job[] = [];
  let inFlight = 0;
  let closed = false;

  const feed = (): void => {
    while (inFlight < window && waiting.length > 0) {
      const job = waiting.shift()!;
      // the least busy thread (the first on a tie)
      let t = 0;
      for (let i = 1; i < threads.length; i++) if (outstanding[i] < outstanding[t]) t = i;
      inFlight++;
      outstanding[t]++;
      threads[t]
        .run(job.feeds, buffersOf(job.feeds))
        .then((out) => job.resolve(out[SENTENCE_EMBEDDING]), (err: Error) => job.reject(err))
        .finally(() => {
          inFlight--;
          outstanding[t]--;
          feed();
        });
    }
  };

  return {
    threads,
    embed(lists) {
      if (closed) return Promise.reject(new Error('encoder service: closed'));
      return embedInMicroBatches(lists, microBatch, (feeds) => new Promise<WireTensor>((resolve, reject) => {
        waiting.push({ feeds, resolve, reject });
        feed();
      }));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const job of waiting.splice(0)) job.reject(new Error('encoder service: closed'));
      await Promise.all(threads.map((t) => t.close()));
    },
  };
}
