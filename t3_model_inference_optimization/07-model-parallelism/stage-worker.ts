/**
 * One stage thread (loaded through worker-boot.mjs): opens its own onnxruntime session on the model it was given
 * (`workerData.model`: a whole encoder or one stage of it), one intra-op thread, and runs the micro-batches posted to
 * it one at a time, in the order they arrive (`runMs`: the session's time for that run alone, not its wait). Protocol (stage-thread.ts is the other end):
 *
 *   in   { id, feeds: { name: WireTensor } }
 *   out  { id, outputs: { name: WireTensor }, runMs }     every output's buffer in the transfer list: moved, not copied
 *        { id, error }                                    the run failed (bad token id, wrong shape...)
 *        { ready, inputs, outputs } once, after the session is open; { loadError } if it could not be opened
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { openSession } from '../../shared/model/session.ts';
import type { StageReply, StageRequest, WireTensor } from './stage-thread.ts';

const port = parentPort!;
const { model, threads } = workerData as { model: Uint8Array; threads: number };

try {
  const session = await openSession(model, threads);
  // one run at a time, in arrival order: each waits for the previous one to finish before it calls session.run, so
  // `runMs` is this run's compute alone (onnxruntime-node's run starts in a setImmediate; runs started together would
  // each count the ones ahead of them)
  let last = Promise.resolve();
  port.on('message', (msg: StageRequest | { exit: number }) => {
    // {exit}: end the thread between two runs (tests: a thread that dies with work queued). Not worker.terminate():
    // terminating a thread inside onnxruntime's native run aborts the whole process
    if ('exit' in msg) last = last.then(() => process.exit(msg.exit));
    else last = last.then(() => run(session, msg));
  });
  port.postMessage({ ready: true, inputs: [...session.inputNames], outputs: [...session.outputNames] } satisfies StageReply);
} catch (err) {
  port.postMessage({ loadError: String((err as Error)?.message ?? err) } satisfies StageReply);
}

async function run(session: ort.InferenceSession, { id, feeds }: StageRequest): Promise<void> {
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
    const t0 = performance.now();
    const out = await session.run(tensors);
    const runMs = performance.now() - t0;
    const outputs: Record<string, WireTensor> = {};
    const transfer = new Set<ArrayBuffer>();
    for (const [name, t] of Object.entries(out)) {
      // onnxruntime-node hands each output back in an ArrayBuffer of its own: this thread has no further use for it
      const data = t.data as Float32Array | BigInt64Array;
      outputs[name] = { type: t.type as WireTensor['type'], dims: [...t.dims], data };
      transfer.add(data.buffer as ArrayBuffer);
    }
    port.postMessage({ id, outputs, runMs } satisfies StageReply, [...transfer]);
  } catch (err) {
    port.postMessage({ id, error: String((err as Error)?.message ?? err) } satisfies StageReply);
  }
}
