/**
 * What the lesson's files share: the pool's interface (after.ts, before.ts, exercise.ts and wrong/ implement it).
 * Planning itself: shared/model/resources.ts; sessions: shared/model/providers.ts.
 *
 * The seeded encoder runs here: its outputs carry no meaning; a pool's rows are compared with one session's.
 */
import type { CreateSession } from '../../shared/model/providers.ts';

export interface PoolOptions {
  /** Requests expected in flight at once (the load the pool is sized for). */
  concurrency: number;
  /** Texts per request. */
  batch: number;
  /** Cores to use. Default `os.availableParallelism()`. */
  cores?: number;
  /** The session factory. Default `ort.InferenceSession.create` (the checkpoint passes a counting one). */
  create?: CreateSession;
}

export interface EncoderPool {
  /** Sessions opened. */
  readonly sessions: number;
  /** Intra-op threads per session (0: onnxruntime's default, one per core). */
  readonly intraOpThreads: number;
  /** One row per token-id list; concurrent calls share the sessions. */
  embed(lists: number[][]): Promise<Float32Array[]>;
  close(): Promise<void>;
}
