/**
 * EXERCISE 07-model-parallelism — keep both stage threads busy: schedule micro-batches through the pipeline.
 *
 * The encoder is already split (`splitEncoder`: stage 1 = embeddings + layers 0-2, stage 2 = layers 3-5 + pooling),
 * each stage already runs in its own worker thread with its own session (`startStages`), and `embed` already cuts a
 * call into micro-batches and puts the rows back in order. As shipped, `Pipeline` runs one micro-batch through both
 * stages before it starts the next: correct rows, and at any moment one of the two threads idle. The checkpoint
 * accepts the rows and rejects the idle thread.
 *
 * What is yours is the class `Pipeline`: when a micro-batch is handed to stage 1, when it moves on to stage 2, and what
 * moves with it. `this.stages[s].run(feeds, transfer)` posts one micro-batch to a thread and resolves with its
 * outputs; `nextStageFeeds(out)` turns stage 1's outputs into stage 2's feeds; the last stage's rows are
 * `out[SENTENCE_EMBEDDING]`.
 *
 * What must hold (checked by `npm run checkpoint -- 07-model-parallelism`, on a six-layer encoder with micro-batches
 * of 4 texts and a window of 3):
 *   - the rows equal the whole model's within 1e-5, in the callers' order, none lost, when callers overlap;
 *   - both stage threads compute at once: while stage 2 works on micro-batch k, stage 1 works on k+1;
 *   - at most `window` micro-batches are in flight (handed to a thread, not yet back from the last stage); the rest
 *     wait, in order;
 *   - the stages run equal numbers of layers;
 *   - what crosses the stage boundary is exactly the [batch, seq, hidden] hidden states (and the mask), moved between
 *     threads, never copied: 0 bytes cloned by postMessage;
 *   - a micro-batch that fails in a stage rejects its request (never a hang) and frees its place in the window; a
 *     thread that dies rejects what it holds; `close` terminates both threads.
 *
 * Then measure throughput and latency at concurrency 1 and at saturation beside before, after and data parallelism:
 *   npm run t3 -- --only 07-model-parallelism --impl exercise --quick
 * Stuck? npm run hint -- 07-model-parallelism
 */
import { evenCuts, nextStageFeeds, SENTENCE_EMBEDDING, splitEncoder } from '../../shared/model/encoder-stages.ts';
import { DEFAULT_MICRO_BATCH, DEFAULT_WINDOW, embedInMicroBatches, positiveInt } from './micro-batch.ts';
import { buffersOf, startStages, type StageThread, type WireFeeds, type WireTensor } from './stage-thread.ts';
import type { EncoderService, EncoderServiceOptions } from './types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

/** Stage threads: one per core of the 2-core machine the lesson is measured on. */
export const STAGES: number = 2;

/** Micro-batches through the stage threads in order, at most `window` in flight. */
class Pipeline {
  /** As shipped: the promise of the last micro-batch pushed; each new one waits for it. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly stages: readonly StageThread[],
    private readonly window: number,
  ) {}

  /** Queue one micro-batch; resolves with its rows once it is out of the last stage. */
  push(feeds: WireFeeds): Promise<WireTensor> {
    // TODO: one micro-batch at a time through both stages leaves a thread idle; see what must hold above
    void this.window;
    const run = this.last.then(() => this.through(feeds));
    this.last = run.catch(() => undefined);
    return run;
  }

  /** Reject everything not yet started (called by `close`). */
  close(_err: Error): void {}

  /** One micro-batch through every stage, its buffers moved with each message. */
  private async through(feeds: WireFeeds): Promise<WireTensor> {
    for (let s = 0; ; s++) {
      const out = await this.stages[s].run(feeds, buffersOf(feeds));
      if (s === this.stages.length - 1) return out[SENTENCE_EMBEDDING];
      feeds = nextStageFeeds(out);
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
