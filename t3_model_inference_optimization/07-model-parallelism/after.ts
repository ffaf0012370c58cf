/**
 * 07-model-parallelism, after: the encoder's layers split across two worker threads as a pipeline. Stage 1 (its own
 * thread, its own onnxruntime session, one intra-op thread) runs the embeddings and layers 0-2 and hands the hidden
 * states [batch, seq, hidden] and the mask on; stage 2 runs layers 3-5, mean pooling and the normalisation. Each
 * stage is one ONNX graph cut from the same weights (`splitEncoder`, shared/model/encoder-stages.ts), so chained they
 * compute the whole model.
 *
 * The decision is the scheduling (class Pipeline below). A call's texts become micro-batches; up to `window` of them
 * are in flight at once, and each moves on to stage 2 the moment stage 1 is done with it. So while stage 2 works on
 * micro-batch k, stage 1 already works on k+1 (it was posted as soon as a slot in the window was free, and waits in
 * stage 1's message queue until the thread gets to it): both threads compute at once, and at full load the pipeline
 * delivers one micro-batch per stage time, about half the whole model's. The window bounds the work handed to the
 * threads (and so the memory of hidden states waiting between stages, and the latency a new request sees behind
 * them); the rest waits on the main thread, in order. A micro-batch that fails frees its slot like one that succeeds.
 *
 * Between the stages the hidden states are moved, not copied: stage 1 transfers its output buffers to the main
 * thread, and the main thread transfers them on to stage 2 (`buffersOf(feeds)` in the transfer list): the memory
 * changes owner twice and not one byte is copied. For MiniLM-L6's shape a micro-batch of 8 texts of 64 tokens is
 * 786 KB of hidden states; cloned, each hop would copy them.
 *
 * The layers are split evenly (3 and 3): a pipeline runs at the pace of its slowest stage, so any other split leaves
 * one thread waiting on the other.
 *
 * What it costs, and why it rarely wins on time (the README measures it): every micro-batch makes four hops between
 * threads (main → stage 1 → main → stage 2 → main) instead of two, and waits for two threads in turn, so at low load
 * its latency is a whole-model run plus the hops; and two independent whole-model threads (data-parallel.ts) use the
 * same two cores with no stage boundary at all. The pipeline pays when the model does not fit one device's memory:
 * each stage holds only its layers' weights.
 *
 * What the wrong solutions swap (`PipelineParts`, one idea each): `createEncoderService` takes them as an optional
 * second argument, by default an even split, a transfer list of the feeds' buffers and the window as asked.
 */
import { evenCuts, nextStageFeeds, SENTENCE_EMBEDDING, splitEncoder } from '../../shared/model/encoder-stages.ts';
import { DEFAULT_MICRO_BATCH, DEFAULT_WINDOW, embedInMicroBatches, positiveInt } from './micro-batch.ts';
import { buffersOf, startStages, type StageThread, type WireFeeds, type WireTensor } from './stage-thread.ts';
import type { EncoderService, EncoderServiceOptions } from './types.ts';

export type { EncoderService, EncoderServiceOptions, StageThread };

/** Stage threads: one per core of the 2-core machine the lesson is measured on. */
export const STAGES: number = 2;

/** The parts of the pipeline a wrong solution changes. */
interface PipelineParts {
  /** Where the layers are cut (`evenCuts`: 3 + 3). */
  cuts: (layers: number, stages: number) => number[];
  /** The buffers moved with a stage's message (`buffersOf`: all of them, nothing copied). */
  transfer: (feeds: WireFeeds) => ArrayBuffer[];
  /** Micro-batches in flight at once, from the window the caller asked for. */
  inFlight: (window: number) => number;
}

const PARTS: PipelineParts = { cuts: evenCuts, transfer: buffersOf, inFlight: (window) => window };

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
    private readonly transfer: PipelineParts['transfer'],
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
        const out = await this.stages[s].run(feeds, this.transfer(feeds));
        if (s === this.stages.length - 1) return job.resolve(out[SENTENCE_EMBEDDING]);
        feeds = nextStageFeeds(out);
      }
    } catch (err) {
      job.reject(err as Error);
    }
  }
}

export async function createEncoderService(opts: EncoderServiceOptions, parts: Partial<PipelineParts> = {}): Promise<EncoderService> {
  const { cuts, transfer, inFlight } = { ...PARTS, ...parts };
  const microBatch = positiveInt(opts.microBatch, DEFAULT_MICRO_BATCH, 'microBatch');
  const window = inFlight(positiveInt(opts.window, DEFAULT_WINDOW, 'window'));
  const stages = splitEncoder(opts.weights, cuts(opts.weights.config.layers, STAGES));
  const threads = await startStages(stages.map((s, i) => ({ model: s.model, name: `stage ${i + 1} (layers ${s.from}-${s.to - 1})` })));
  const pipeline = new Pipeline(threads, window, transfer);
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
