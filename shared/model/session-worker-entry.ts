/**
 * The worker side of shared/model/session-worker.ts (started through shared/util/ts-worker.ts): opens one
 * onnxruntime CPU session on `workerData.model` (bytes, or a path it reads itself) and runs the requests posted to it
 * one at a time, in order. Every output's ArrayBuffer goes back in the transfer list (onnxruntime-node gives each
 * output a buffer of its own, and this thread keeps no reference to it): moved, not copied. The timestamps around
 * the native run are epoch milliseconds, comparable with other threads'. `{ close }` lets the run in progress finish,
 * skips the queued ones, releases the session and closes the port (the thread then exits); `{ exit }` exits at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { SessionReply, SessionRequest, SessionWorkerData, WireOutput, WireOutputs, WireType } from './session-worker.ts';

const port = parentPort!;
const { model, options } = workerData as SessionWorkerData;
const now = () => performance.timeOrigin + performance.now();

try {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    executionMode: options.executionMode ?? 'sequential',
    interOpNumThreads: options.interOpNumThreads ?? 1,
  };
  if (options.intraOpNumThreads) opts.intraOpNumThreads = options.intraOpNumThreads;
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  // one run at a time, in arrival order: the native run is synchronous on this thread anyway
  let chain: Promise<void> = Promise.resolve();
  let closing = false;
  port.on('message', (msg: SessionRequest) => {
    if ('exit' in msg) process.exit(msg.exit);
    else if ('close' in msg) {
      closing = true; // the main side has rejected everything still queued: skip it
      chain = chain.then(async () => {
        await session.release();
        port.close();
      });
    } else chain = chain.then(() => (closing ? undefined : run(session, msg)));
  });
  port.postMessage({ ready: true, inputNames: [...session.inputNames], outputNames: [...session.outputNames] } satisfies SessionReply);
} catch (err) {
  port.postMessage({ loadError: String((err as Error)?.message ?? err) } satisfies SessionReply);
}

async function run(session: ort.InferenceSession, { id, feeds }: { id: number; feeds: Record<string, WireOutput> }): Promise<void> {
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    const startedAt = now();
    const out = await session.run(tensors);
    const endedAt = now();
    const outputs: WireOutputs = {};
    const transfer = new Set<ArrayBuffer>();
    for (const [name, t] of Object.entries(out)) {
      const data = t.data as Float32Array;
      outputs[name] = { type: t.type as WireType, dims: [...t.dims], data };
      transfer.add(data.buffer as ArrayBuffer);
    }
    port.postMessage({ id, outputs, startedAt, endedAt } satisfies SessionReply, [...transfer]);
  } catch (err) {
    port.postMessage({ id, error: String((err as Error)?.message ?? err) } satisfies SessionReply);
  }
}
