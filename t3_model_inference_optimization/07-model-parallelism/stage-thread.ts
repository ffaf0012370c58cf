/**
 * The main thread's handle on one stage thread (a worker_threads Worker running stage-worker.ts with its own
 * onnxruntime session): `startStage(model)` starts it and waits until its session is open; `run(feeds, transfer)`
 * posts one micro-batch and resolves with the stage's outputs. Every implementation of the lesson (the pipeline, the
 * data-parallel pair, the wrong ones) talks to its threads through this; the probe (probe.ts) watches the messages.
 *
 * What crosses between threads is a `WireTensor`: a typed array with its element type and dims. `postMessage`
 * copies whatever it is given (structured clone) unless its ArrayBuffer is in the transfer list, in which case the
 * memory changes owner and the sender's view is detached (byteLength 0): nothing is copied. `run` passes the caller's
 * transfer list through untouched, so the choice is the caller's; `buffersOf(feeds)` lists a feed's buffers.
 *
 * Failure never hangs a caller: a run the session rejects (a token id outside the vocabulary, a wrong shape) rejects
 * that run's promise; a thread that exits (crash, `terminate()`, `close()`) rejects every run still waiting on it,
 * and every later `run` at once.
 */
import { Worker } from 'node:worker_threads';
import { stageLayers } from '../../shared/model/encoder-stages.ts';

/** A tensor as posted between threads. */
export interface WireTensor {
  type: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export type WireFeeds = Record<string, WireTensor>;

/** main → stage thread. */
export interface StageRequest {
  id: number;
  feeds: WireFeeds;
}

/** stage thread → main. */
export type StageReply =
  | { id: number; outputs: WireFeeds; runMs: number }
  | { id: number; error: string }
  | { ready: true; inputs: string[]; outputs: string[] }
  | { loadError: string };

export interface StageThread {
  /** A name for messages: 'stage 1 (layers 0-2)', 'whole model #2'. */
  readonly name: string;
  /** The worker itself (the probe wraps its postMessage and listens to its replies). */
  readonly worker: Worker;
  /** The layers whose weights this thread's model stores, read from the model's bytes. */
  readonly layers: readonly number[];
  /** The bytes of the model this thread loaded. */
  readonly modelBytes: number;
  /** The session's input and output names. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /**
   * Post one micro-batch; resolves with the stage's outputs (moved to this thread, not copied). `transfer`: the
   * ArrayBuffers to move with the message (the caller can no longer read them); whatever is not listed is copied.
   */
  run(feeds: WireFeeds, transfer: readonly ArrayBuffer[]): Promise<WireFeeds>;
  /** Terminate the thread; runs still waiting reject. */
  close(): Promise<void>;
}

/** The distinct ArrayBuffers under a feed's tensors: what to list for `run` to move them instead of copying them. */
export function buffersOf(feeds: WireFeeds): ArrayBuffer[] {
  return [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
}

export const WORKER_FILE = new URL('./worker-boot.mjs', import.meta.url);

/**
 * Start a thread on `model` (a serialised ONNX model; copied into the thread once, at start) with `threads` intra-op
 * threads (default 1: one thread of compute per stage). Resolves once its session is open.
 */
export async function startStage(model: Uint8Array, name: string, threads = 1): Promise<StageThread> {
  const layers = stageLayers(model);
  const worker = new Worker(WORKER_FILE, { workerData: { model, threads } });
  const pending = new Map<number, { resolve: (o: WireFeeds) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  const fail = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  const ready = new Promise<{ inputs: string[]; outputs: string[] }>((resolve, reject) => {
    worker.on('message', (msg: StageReply) => {
      if ('ready' in msg) resolve(msg);
      else if ('loadError' in msg) reject(new Error(`${name}: could not open its model: ${msg.loadError}`));
      else {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if ('error' in msg) p.reject(new Error(`${name}: ${msg.error}`));
        else p.resolve(msg.outputs);
      }
    });
    worker.on('error', (err) => {
      const e = new Error(`${name}: the thread failed: ${err.message}`);
      reject(e);
      fail(e);
    });
    worker.on('exit', (code) => {
      const e = new Error(`${name}: the thread exited (code ${code}) with work in flight`);
      reject(e);
      fail(e);
    });
  });
  const inFlight = new Set<Promise<WireFeeds>>();
  let names: { inputs: string[]; outputs: string[] };
  try {
    names = await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  return {
    name,
    worker,
    layers,
    modelBytes: model.byteLength,
    inputs: names.inputs,
    outputs: names.outputs,
    run(feeds, transfer) {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      const p = new Promise<WireFeeds>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        try {
          worker.postMessage({ id, feeds } satisfies StageRequest, [...transfer]);
        } catch (err) {
          pending.delete(id);
          reject(err as Error);
        }
      });
      inFlight.add(p);
      const forget = () => inFlight.delete(p);
      p.then(forget, forget);
      return p;
    },
    async close() {
      dead ??= new Error(`${name}: closed`);
      // terminate() while the worker is inside a native onnxruntime run aborts the whole process (Napi::Error):
      // let the runs already sent finish first, then end the idle thread
      await Promise.allSettled([...inFlight]);
      await worker.terminate();
    },
  };
}

/**
 * Start one thread per model, all at once; if any fails to start, the others are terminated and the first error
 * is thrown (no thread is left running).
 */
export async function startStages(models: ReadonlyArray<{ model: Uint8Array; name: string }>, threads = 1): Promise<StageThread[]> {
  const started = await Promise.allSettled(models.map((m) => startStage(m.model, m.name, threads)));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.close() : undefined)));
    throw failed.reason;
  }
  return started.map((s) => (s as PromiseFulfilledResult<StageThread>).value);
}
