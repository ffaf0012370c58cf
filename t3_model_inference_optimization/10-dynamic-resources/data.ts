/**
 * What the lesson's files share: the pool's interface (after.ts, before.ts, exercise.ts and wrong/ implement it), the
 * two ways to open a session, and output rows. Planning itself: shared/model/resources.ts.
 *
 * Two kinds of session, because in onnxruntime-node 1.30 `session.run` runs synchronously on the JavaScript thread
 * that calls it (inside a setImmediate, node_modules/onnxruntime-node/dist/backend.js; NOT on libuv's thread pool):
 *   - `create` opens a session in this thread (`ort.InferenceSession.create`): its runs, and every other in-thread
 *     session's, execute one after another, and the event loop is blocked during each;
 *   - `openWorker` opens a session in a worker thread of its own (`SessionWorker.open`, shared/model/session-worker.ts):
 *     N of them run N runs at once, and this thread stays free.
 *
 * The seeded encoder runs here: its outputs carry no meaning; a pool's rows are compared with one session's.
 */
import { RagError } from '../../shared/errors.ts';
import type { CreateSession } from '../../shared/model/providers.ts';
import { SessionWorker, type SessionWorkerOptions, type WireFeeds, type WireOutput, type WireOutputs } from '../../shared/model/session-worker.ts';

/** A session in a worker thread, as the pool uses it (SessionWorker, or the checkpoint's counting stand-in). */
export interface WorkerSession {
  readonly outputNames: readonly string[];
  run(feeds: WireFeeds, opts?: { transfer?: boolean }): Promise<WireOutputs>;
  close(): Promise<void>;
}

/** Opens a session in a worker thread. */
export type OpenWorker = (model: Uint8Array, options: SessionWorkerOptions) => Promise<WorkerSession>;

export const defaultOpenWorker: OpenWorker = (model, options) => SessionWorker.open(model, options);

export interface PoolOptions {
  /** Requests expected in flight at once (the load the pool is sized for). */
  concurrency: number;
  /** Texts per request. */
  batch: number;
  /** Cores to use. Default `os.availableParallelism()`. */
  cores?: number;
  /** Opens a session in this thread. Default `ort.InferenceSession.create` (the checkpoint passes a counting one). */
  create?: CreateSession;
  /** Opens a session in a worker thread. Default `SessionWorker.open` (the checkpoint passes a counting one). */
  openWorker?: OpenWorker;
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

/** One row per text from a worker's output (`[batch, …]`, float32). */
export function wireRows(y: WireOutput, batch: number): Float32Array[] {
  const data = y.data as Float32Array;
  if (batch <= 0 || data.length % batch !== 0) throw new RagError('INVALID_INPUT', `wireRows: ${data.length} values do not split into ${batch} rows`);
  const dim = data.length / batch;
  return Array.from({ length: batch }, (_, r) => data.subarray(r * dim, (r + 1) * dim));
}
