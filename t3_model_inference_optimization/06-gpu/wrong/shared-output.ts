/**
 * Wrong (on purpose): one preallocated output tensor per batch size, created the first time that size is seen and
 * handed to every run of that size for the life of the service. Not a correctness bug in onnxruntime-node 1.30: the
 * binding's `run` executes synchronously on the calling thread (inside a setImmediate, not on libuv's thread pool),
 * so runs of one session never overlap, and it returns a new tensor holding a copy of the output, never the one
 * passed in; concurrent requests of one size sharing the tensor each get their own rows (measured, and checked by
 * the checkpoint's "onnxruntime-node itself" test). What is wrong is the Map: a tensor for every batch size ever
 * seen, never dropped, so the memory only grows under varied load (after.ts's `OutputBuffers` keeps free tensors for
 * at most 8 sizes). It also leans on that sequential-and-copied behaviour of one binding: onnxruntime's own API allows
 * concurrent `Run` calls on one session from several threads, where a shared output buffer would be written by two
 * runs at once; lending a tensor to one run at a time holds either way.
 *
 * What differs from after.ts: an unbounded Map batch → tensor, instead of tensors lent to one run at a time from a
 * bounded free list (`OutputBuffers.acquire` / `release`).
 *
 * @rejected-with memory that only grows
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
