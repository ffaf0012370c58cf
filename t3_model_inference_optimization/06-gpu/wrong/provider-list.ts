/**
 * Wrong (on purpose): the whole preference list handed to onnxruntime in one `executionProviders`, as the Python
 * habit `providers=['CUDAExecutionProvider', 'CPUExecutionProvider']` suggests. The session is reused and the outputs
 * preallocated; the mistake is believing the list falls back. onnxruntime-node appends every provider named, and one
 * that cannot load makes `create` throw: where the CUDA libraries are missing the service never opens.
 *
 * What differs from after.ts: one `create` with every provider of `prefer`, instead of one provider at a time.
 *
 * @rejected-with onnxruntime-node does not fall back
 */
import { defaultCreate, executionProviderFor, OutputBuffers, outputDim, outputRows } from '../../../shared/model/providers.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from '../data.ts';

export type { EncoderService, EncoderServiceOptions } from '../data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const prefer = [...(opts.prefer ?? ['cuda', 'cpu'])];
  const session = await (opts.create ?? defaultCreate)(model, {
    executionProviders: prefer.map((p) => executionProviderFor(p, opts.cuda)),
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    enableCpuMemArena: opts.cpu?.enableCpuMemArena ?? true,
    enableMemPattern: opts.cpu?.enableMemPattern ?? true,
  });
  const output = session.outputNames[0];
  const buffers = new OutputBuffers(output, outputDim(session)!);
  return {
    provider: prefer[0],
    attempts: [],
    notApplied: [],
    async embed(lists) {
      if (lists.length === 0) return [];
      const lent = buffers.acquire(lists.length);
      try {
        return outputRows((await session.run(tokenFeeds(lists), lent.fetches))[output], lists.length);
      } finally {
        lent.release();
      }
    },
    close: () => session.release(),
  };
}
