/**
 * 06-gpu, before: the provider list hard-coded, and a session opened for every request.
 *
 * Written the way it usually is: `executionProviders: ['cuda', 'cpu']` ("use the GPU, else the CPU") inside the
 * request handler. Both halves are wrong. onnxruntime-node does not fall back within that list: where the CUDA
 * libraries are missing (this machine's CPU build) `create` throws "OrtSessionOptionsAppendExecutionProvider_Cuda:
 * Failed to load shared library", on every request. And where it does open, every request pays the session's
 * creation again (graph optimisation, weight prepacking, a fresh arena) before its one run. The bench measures it
 * with `prefer: ['cpu']`, what people change the list to after the error.
 */
import { defaultCreate, outputRows } from '../../shared/model/providers.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from './data.ts';

export type { EncoderService, EncoderServiceOptions } from './data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const providers = [...(opts.prefer ?? ['cuda', 'cpu'])];
  const create = opts.create ?? defaultCreate;
  return {
    provider: providers[0],
    attempts: [],
    notApplied: [],
    async embed(lists) {
      if (lists.length === 0) return [];
      const session = await create(model, { executionProviders: providers, intraOpNumThreads: opts.intraOpNumThreads ?? 1 });
      try {
        const out = await session.run(tokenFeeds(lists));
        return outputRows(out[session.outputNames[0]], lists.length);
      } finally {
        await session.release();
      }
    },
    async close() {},
  };
}
