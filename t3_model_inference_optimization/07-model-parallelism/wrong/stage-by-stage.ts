/**
 * Wrong (on purpose): one loop drains the queue, and for each micro-batch awaits stage 1, then stage 2, then takes
 * the next. It looks like a pipeline (two threads, two stages, a queue) but only one thread ever has work: stage 1
 * sits idle while stage 2 finishes micro-batch k, because k+1 is not handed over until then. Throughput is the
 * whole model on one thread, plus the hops.
 *
 * What differs from after.ts: `Pipeline` waits for a micro-batch to leave stage 2 before feeding stage 1 the next.
 *
 * @rejected-with stage threads worked at once
 */
import { evenCuts, nextStageFeeds, SENTENCE_EMBEDDING, splitEncoder } from '../../../shared/model/encoder-stages.ts';
import { DEFAULT_MICRO_BATCH, DEFAULT_WINDOW, embedInMicroBatches, positiveInt } from '../micro-batch.ts';
import { buffersOf, startStages, type StageThread, type WireFeeds, type WireTensor } from '../stage-thread.ts';
import type { EncoderService, EncoderServiceOptions } from '../types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

export const STAGES: number = 2;

interface Job {
  feeds: WireFeeds;
  resolve: (rows: WireTensor) => void;
  reject: (err: Error) => void;
}

class Pipeline {
  private readonly waiting: Job[] = [];
  private draining = false;

  constructor(
    private readonly stages: readonly StageThread[],
    readonly window: number,
  ) {}

  push(feeds: WireFeeds): Promise<WireTensor> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ feeds, resolve, reject });
      void this.drain();
    });
  }

  close(err: Error): void {
    for (const job of this.waiting.splice(0)) job.reject(err);
  }

  /** Take the next micro-batch, run it through stage 1 and stage 2, repeat. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    while (this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      try {
        let feeds = job.feeds;
        for (let s = 0; s < this.stages.length; s++) {
          const out = await this.stages[s].run(feeds, buffersOf(feeds));
          if (s === this.stages.length - 1) job.resolve(out[SENTENCE_EMBEDDING]);
          else feeds = nextStageFeeds(out);
        }
      } catch (err) {
        job.reject(err as Error);
      }
    }
    this.draining = false;
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
