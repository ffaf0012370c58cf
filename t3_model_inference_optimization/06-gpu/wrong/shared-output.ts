/**
 * Wrong (on purpose): one preallocated output tensor per batch size, handed to every run of that size. Right while
 * requests come one at a time; but `run` is asynchronous (onnxruntime-node runs it on libuv's thread pool), so two
 * requests of the same size in flight write into the same buffer at once, and a result can be copied out while the
 * other run is overwriting it.
 *
 * What differs from after.ts: a Map batch → tensor, instead of tensors lent to one run at a time
 * (`OutputBuffers.acquire` / `release`).
 *
 * @rejected-with their rows would mix
 */
import * as ort from 'onnxruntime-node';
import { defaultCreate, openBestSession, outputDim, outputRows, probeFor } from '../../../shared/model/providers.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from '../data.ts';

export type { EncoderService, EncoderServiceOptions } from '../data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const best = await openBestSession(model, {
    prefer: opts.prefer ?? ['cuda', 'cpu'],
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    cuda: opts.cuda,
    cpu: opts.cpu,
    probe: probeFor(opts.create ?? defaultCreate),
    log: opts.log,
  });
  const { session } = best;
  const output = session.outputNames[0];
  const dim = outputDim(session)!;
  const byBatch = new Map<number, ort.Tensor>();
  return {
    provider: best.provider,
    attempts: best.attempts,
    notApplied: best.notApplied,
    async embed(lists) {
      if (lists.length === 0) return [];
      let t = byBatch.get(lists.length);
      if (!t) byBatch.set(lists.length, (t = new ort.Tensor('float32', new Float32Array(lists.length * dim), [lists.length, dim])));
      const out = await session.run(tokenFeeds(lists), { [output]: t });
      return outputRows(out[output], lists.length);
    },
    close: () => session.release(),
  };
}
