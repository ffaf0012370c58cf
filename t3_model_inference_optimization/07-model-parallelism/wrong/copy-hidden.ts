/**
 * Wrong (on purpose): the micro-batches are posted without a transfer list ("transferring detaches the buffer; safer
 * to let postMessage copy it"). Nothing else reads those buffers after they are posted, so the copy buys nothing:
 * postMessage's structured clone copies every micro-batch's hidden states ([batch, seq, hidden] float32, 786 KB for 8
 * MiniLM texts of 64 tokens) from the main thread into stage 2, and the ids into stage 1.
 *
 * What differs from after.ts: `run(feeds, [])` instead of `run(feeds, buffersOf(feeds))`.
 *
 * @rejected-with bytes of hidden_states
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

/** Micro-batches through the stage threads in order, at most `window` in flight. */
class Pipeline {
  private readonly waiting: Job[] = [];
  private inFlight = 0;

  constructor(
    private readonly stages: readonly StageThread[],
    private readonly window: number,
  ) {}

  /** Queue one micro-batch; resolves with its rows once it is out of the last stage. */
  push(feeds: WireFeeds): Promise<WireTensor> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ feeds, resolve, reject });
      this.feed();
    });
  }

  /** Reject everything not yet started. */
  close(err: Error): void {
    for (const job of this.waiting.splice(0)) job.reject(err);
  }

  /** Start waiting micro-batches while fewer than `window` are in flight; each finished one starts the next. */
  private feed(): void {
    while (this.inFlight < this.window && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.inFlight++;
      void this.through(job).finally(() => {
        this.inFlight--;
        this.feed();
      });
    }
  }

  /**
   * One micro-batch through every stage. Not awaited by `feed`: while this one waits for stage 2, the next one is
   * already in stage 1. The buffers move with each message (transfer list): nothing is copied between threads.
   */
  private async through(job: Job): Promise<void> {
    try {
      let feeds = job.feeds;
      for (let s = 0; s < this.stages.length; s++) {
        void buffersOf;
        const out = await this.stages[s].run(feeds, []); // copied by postMessage
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
