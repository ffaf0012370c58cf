/**
 * Wrong (on purpose): every micro-batch goes straight into stage 1 the moment it arrives ("the threads have queues of
 * their own, why keep one here?"). The stages still overlap, but nothing bounds what is handed to the threads: under
 * a burst every micro-batch sits in stage 1's message queue at once, each one's hidden states pile up between the
 * stages, and a request that arrives now waits behind all of them, with no way left to shed or reorder load.
 *
 * What differs from after.ts: `push` starts the micro-batch at once, with no window.
 *
 * @rejected-with micro-batches in flight at once, bound 3
 */
import { evenCuts, nextStageFeeds, SENTENCE_EMBEDDING, splitEncoder } from '../../../shared/model/encoder-stages.ts';
import { DEFAULT_MICRO_BATCH, DEFAULT_WINDOW, embedInMicroBatches, positiveInt } from '../micro-batch.ts';
import { buffersOf, startStages, type StageThread, type WireFeeds, type WireTensor } from '../stage-thread.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

/** Stage threads: one per core of the 2-core machine the lesson is measured on. */
export const STAGES: number = 2;

interface Job {
  feeds: WireFeeds;
  resolve: (rows: WireTensor) => void;
  reject: (err: Error) => void;
}

/** Micro-batches through the stage threads, each started the moment it is pushed. */
class Pipeline {
  constructor(
    private readonly stages: readonly StageThread[],
    readonly window: number,
  ) {}

  push(feeds: WireFeeds): Promise<WireTensor> {
    return new Promise((resolve, reject) => void this.through({ feeds, resolve, reject })); // no window
  }

  close(_err: Error): void {}

  private async through(job: Job): Promise<void> {
    try {
      let feeds = job.feeds;
      for (let s = 0; s < this.stages.length; s++) {
        const out = await this.stages[s].run(feeds, buffersOf(feeds));
        if (s === this.stages.length - 1) return job.resolve(out[SENTENCE_EMBEDDING]);
        feeds = nextStageFeeds(out);
      }
    } catch (err) {
      job.reject(err as Error);
    }
  }
}

export async function createEncoderService(opts: EncoderServiceOptions): Promise<EncoderService> {
  const microBatch = positiveInt(opts.microBatch, DEFAULT_MICRO_BATCH, 'microBatch');
  const window = positiveInt(opts.window, DEFAULT_WINDOW, 'window');
  const stages = splitEncoder(opts.weights, evenCuts(opts.weights.config.layers, STAGES));
  const threads = await startStages(stages.map((s, i) => ({ model: s.model, name: `stage ${i + 1} (layers ${s.from}-${s.to - 1})` })));
  const pipeline = new Pipeline(threads, window);
  let closed = false;
  return {
    threads,
    embed(lists) {
      if (closed) return Promise.reject(new Error('encoder service: closed'));
      return embedInMicroBatches(lists, microBatch, (feeds) => pipeline.push(feeds));
    },
    async close() {
      if (closed) return;
      closed = true;
      pipeline.close(new Error('encoder service: closed'));
      await Promise.all(threads.map((t) => t.close()));
    },
  };
}
