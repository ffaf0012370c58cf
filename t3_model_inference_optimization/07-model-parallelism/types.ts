/** The interface before.ts, after.ts, data-parallel.ts, exercise.ts and wrong/*.ts share. */
import type { EncoderWeights } from '../../shared/model/encoder.ts';
import type { StageThread } from './stage-thread.ts';

export interface EncoderServiceOptions {
  /** The encoder's weights (`encoderWeights` in shared/model/encoder.ts); the service builds its graphs from them. */
  weights: EncoderWeights;
  /** Texts per micro-batch: a call to `embed` is cut into micro-batches of this many texts. Default 8. */
  microBatch?: number;
  /**
   * Micro-batches in flight at most: handed to a thread and not yet back from the last stage (failed ones count
   * until their error is back). The rest wait on the main thread. Default 4.
   */
  window?: number;
}

export interface EncoderService {
  /** One L2-normalised row per token-id list, in the order given (an empty list gives a zero row). */
  embed(lists: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** The worker threads the model runs on, in stage order (empty: it runs on the calling thread). */
  readonly threads: readonly StageThread[];
  /** Terminates the threads (and releases the sessions); later calls to `embed` reject. */
  close(): Promise<void>;
}

export type { StageThread };
