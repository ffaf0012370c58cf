/**
 * An onnxruntime session that lives in a worker thread of its own, so its runs never block the caller's event loop
 * and N of them run N runs truly at once.
 *
 * Why: in onnxruntime-node 1.30 `InferenceSession.run` is NOT run on libuv's thread pool. Its backend
 * (`node_modules/onnxruntime-node/dist/backend.js`, `OnnxruntimeSessionHandler.run`) does
 * `setImmediate(() => resolve(binding.run(...)))`: the native run is synchronous, on the JavaScript thread that
 * called it. So in one thread, runs of any number of sessions execute one after another, never overlapping; the only
 * parallelism is onnxruntime's intra-op threads inside one run; and while a run is in progress the event loop is
 * blocked (no timers, no I/O, no other request is even parsed). Measured here: a 706 ms run let a 1 ms setInterval
 * tick once, and two "concurrent" runs on one session took twice one run. Concurrent sessions in Node need worker
 * threads, each holding its own session: that is this module.
 *
 *     const s = await SessionWorker.open(modelBytes, { intraOpNumThreads: 1 });
 *     const out = await s.run({ input_ids: { data: ids, dims: [2, 16] }, attention_mask: { data: mask, dims: [2, 16] } });
 *     out.last_hidden_state.data; // Float32Array, moved from the worker (transferred, not copied)
 *     await s.close();
 *
 * What crosses between threads: typed arrays with their dims (`WireTensor`). Outputs come back with their
 * ArrayBuffers in the transfer list: moved, not copied. Feeds are copied unless `run(feeds, { transfer: true })`
 * moves them (the caller's arrays are then detached: byteLength 0). A model given as bytes is copied into the
 * worker once, at open; a model given as a path is read by the worker itself.
 *
 * Failure never hangs a caller: a run the session rejects (bad shape, token id out of range) rejects that call; a
 * worker that dies (crash, out of memory, `worker.terminate()`) rejects every pending call and every later one;
 * `close()` rejects whatever was still pending and ends the worker once its run in progress returns. (Not
 * `worker.terminate()` in the middle of a run: terminating a worker while onnxruntime's native run is on its stack
 * aborts the whole process, "terminate called after throwing an instance of 'Napi::Error'"; seen while writing this.) A worker runs its messages one at a time,
 * in order (one run per session at a time, like a session in the main thread): calls made while it is busy queue
 * inside it.
 *
 * Cost: each worker is a V8 isolate (~10 MB) plus its own copy of the weights, and starts in tens to hundreds of ms
 * (tsx registers in it): open workers once, not per request.
 */
import { type Worker } from 'node:worker_threads';
import { RagError } from '../errors.ts';
import { startTsWorker } from '../util/ts-worker.ts';

/** Element types a feed or output may have. */
export type WireType = 'float32' | 'int64' | 'int32' | 'uint8' | 'int8' | 'float64' | 'bool';

export type WireData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Float64Array;

/** A tensor as it crosses between threads. `type` may be left out of a feed: it follows from the array. */
export interface WireTensor {
  data: WireData;
  dims: readonly number[];
  type?: WireType;
}

/** An output: always typed (float32 for an encoder's hidden states). */
export interface WireOutput {
  data: WireData;
  dims: number[];
  type: WireType;
}

export type WireFeeds = Record<string, WireTensor>;
export type WireOutputs = Record<string, WireOutput>;

export interface SessionWorkerOptions {
  /** onnxruntime intra-op threads. Unset or 0: onnxruntime's default (one per core). */
  intraOpNumThreads?: number;
  /** Inter-op threads (only used with executionMode 'parallel'). Default 1. */
  interOpNumThreads?: number;
  /** Default 'sequential'. */
  executionMode?: 'sequential' | 'parallel';
  /** Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** A name for error messages. Default 'session worker'. */
  name?: string;
}

/** One run as the worker saw it: the outputs, and when the native run started and ended on the worker's clock. */
export interface TimedRun {
  outputs: WireOutputs;
  /** Epoch milliseconds (performance.timeOrigin + performance.now() in the worker): comparable across threads. */
  startedAt: number;
  endedAt: number;
}

export interface SessionWorker {
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The intra-op threads asked for (0: onnxruntime's default). */
  readonly intraOpNumThreads: number;
  /**
   * The worker itself (for tests and probes). Do not `terminate()` it while a run may be in progress: terminating a
   * worker inside onnxruntime's native run aborts the process. Post `{ exit: code }` to make it exit as a crash would.
   */
  readonly worker: Worker;
  /** Run once; outputs are moved from the worker. `transfer: true` moves the feeds' buffers too (detached here). */
  run(feeds: WireFeeds, opts?: { transfer?: boolean }): Promise<WireOutputs>;
  /** `run`, plus the worker's timestamps around the native run. */
  runTimed(feeds: WireFeeds, opts?: { transfer?: boolean }): Promise<TimedRun>;
  /**
   * End the worker: pending and later calls reject at once; the worker finishes the native run in progress (if any),
   * drops the queued ones, releases its session and exits; resolves when it has. Idempotent.
   */
  close(): Promise<void>;
}

/** main → worker. */
export type SessionRequest =
  | { id: number; feeds: Record<string, WireOutput> }
  /** finish the run in progress, drop the queued ones, release the session, exit */
  | { close: true }
  /** exit at once with this code, as a crash would (tests); handled between runs */
  | { exit: number };

/** worker → main. */
export type SessionReply =
  | { id: number; outputs: WireOutputs; startedAt: number; endedAt: number }
  | { id: number; error: string }
  | { ready: true; inputNames: string[]; outputNames: string[] }
  | { loadError: string };

/** What the worker receives as workerData. */
export interface SessionWorkerData {
  model: Uint8Array | string;
  options: SessionWorkerOptions;
}

const ENTRY = new URL('./session-worker-entry.ts', import.meta.url);

/** The element type of a typed array. */
export function wireType(data: WireData): WireType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Float64Array) return 'float64';
  throw new RagError('INVALID_INPUT', 'SessionWorker: unsupported feed array type');
}

/** onnxruntime tensors (e.g. from `tokenFeeds`) as wire tensors: the same typed arrays, nothing copied. */
export function toWire(tensors: Record<string, { data: unknown; dims: readonly number[]; type: string }>): WireFeeds {
  const out: WireFeeds = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = { data: t.data as WireData, dims: [...t.dims], type: t.type as WireType };
  return out;
}

/** The distinct ArrayBuffers under some tensors (what a transfer list needs). */
export function buffersOf(tensors: Record<string, { data: WireData }>): ArrayBuffer[] {
  return [...new Set(Object.values(tensors).map((t) => t.data.buffer as ArrayBuffer))];
}

async function open(model: Uint8Array | string, options: SessionWorkerOptions = {}): Promise<SessionWorker> {
  const name = options.name ?? 'session worker';
  const worker = startTsWorker(ENTRY, { workerData: { model, options } satisfies SessionWorkerData });
  const pending = new Map<number, { resolve: (r: TimedRun) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  let exited = false;
  let closing: Promise<void> | undefined;
  const fail = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };

  const ready = new Promise<{ inputNames: string[]; outputNames: string[] }>((resolve, reject) => {
    worker.on('message', (msg: SessionReply) => {
      if ('ready' in msg) resolve(msg);
      else if ('loadError' in msg) reject(new RagError('INVALID_INPUT', `${name}: could not open the model: ${msg.loadError}`));
      else {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if ('error' in msg) p.reject(new RagError('INVALID_INPUT', `${name}: run failed: ${msg.error}`));
        else p.resolve({ outputs: msg.outputs, startedAt: msg.startedAt, endedAt: msg.endedAt });
      }
    });
    worker.on('error', (err) => {
      const e = new Error(`${name}: the worker failed: ${err.message}`);
      reject(e);
      fail(e);
    });
    worker.on('exit', (code) => {
      exited = true;
      const e = new Error(`${name}: the worker exited (code ${code})`);
      reject(e);
      fail(e);
    });
  });
  let names: { inputNames: string[]; outputNames: string[] };
  try {
    names = await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  const runTimed = (feeds: WireFeeds, opts: { transfer?: boolean } = {}): Promise<TimedRun> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<TimedRun>((resolve, reject) => {
      try {
        const wire: Record<string, WireOutput> = {};
        for (const [k, t] of Object.entries(feeds)) wire[k] = { data: t.data, dims: [...t.dims], type: t.type ?? wireType(t.data) };
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, feeds: wire } satisfies SessionRequest, opts.transfer ? buffersOf(feeds) : []);
      } catch (err) {
        pending.delete(id);
        reject(err as Error);
      }
    });
  };

  return {
    name,
    inputNames: names.inputNames,
    outputNames: names.outputNames,
    intraOpNumThreads: options.intraOpNumThreads ?? 0,
    worker,
    runTimed,
    run: async (feeds, opts) => (await runTimed(feeds, opts)).outputs,
    async close() {
      if (closing) return closing;
      fail(new Error(`${name}: closed`));
      // not worker.terminate(): terminating a worker while onnxruntime's native run is on its stack aborts the
      // whole process ("terminate called after throwing an instance of 'Napi::Error'", seen here). The worker
      // finishes the run in progress, skips the queued ones, releases its session and exits.
      closing = new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once('exit', () => resolve());
        worker.postMessage({ close: true } satisfies SessionRequest);
      });
      return closing;
    },
  };
}

/** Opens an onnxruntime session in a new worker thread; resolves once the session is open (rejects if it cannot be). */
export const SessionWorker = { open };
