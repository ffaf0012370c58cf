/**
 * 06-gpu, after: the execution provider chosen by probing, with a fallback (CUDA → CPU), the session opened once and
 * reused, outputs written into preallocated tensors.
 *
 * onnxruntime-node's `executionProviders` is not a fallback list: `['cuda', 'cpu']` throws at `create` where the CUDA
 * libraries are missing ("OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library"). So each
 * provider of `prefer` is tried alone, in order, and the first that opens is used (`openBestSession`,
 * shared/model/providers.ts). The probe is a one-node model opened once per provider per process (`probeFor`): a
 * provider whose libraries are missing stays missing, so the next service does not try it again. One log line says
 * which provider runs and why each earlier one does not, with the install command for CUDA.
 *
 * Then the session is kept: opening the seeded MiniLM-shaped encoder costs more than a run at batch 8 (graph
 * optimisation, weight prepacking, the arena's first blocks), so a session per request pays it every time. Each run
 * gets an output tensor allocated once per batch size (`OutputBuffers`) as `fetches`, so onnxruntime writes there
 * instead of allocating its own output; the CPU arena and the memory pattern stay on (onnxruntime's defaults, set
 * explicitly so a caller can see and turn them off).
 */
import { RagError } from '../../shared/errors.ts';
import { defaultCreate, openBestSession, OutputBuffers, outputDim, outputRows, probeFor } from '../../shared/model/providers.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from './data.ts';

export type { EncoderService, EncoderServiceOptions } from './data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const best = await openBestSession(model, {
    prefer: opts.prefer ?? ['cuda', 'cpu'],
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    cuda: opts.cuda,
    cpu: { enableCpuMemArena: opts.cpu?.enableCpuMemArena ?? true, enableMemPattern: opts.cpu?.enableMemPattern ?? true },
    probe: probeFor(opts.create ?? defaultCreate),
    log: opts.log,
  });
  const { session } = best;
  const output = session.outputNames[0];
  const dim = outputDim(session);
  const buffers = opts.preallocateOutputs !== false && dim !== undefined ? new OutputBuffers(output, dim) : undefined;
  let closed = false;
  return {
    provider: best.provider,
    attempts: best.attempts,
    notApplied: best.notApplied,
    async embed(lists) {
      if (closed) throw new RagError('INVALID_INPUT', 'EncoderService: embed after close');
      if (lists.length === 0) return [];
      const feeds = tokenFeeds(lists);
      if (!buffers) return outputRows((await session.run(feeds))[output], lists.length);
      const lent = buffers.acquire(lists.length); // lent to this run; bounded free list (runs of one session never overlap here: see README)
      try {
        return outputRows((await session.run(feeds, lent.fetches))[output], lists.length);
      } finally {
        lent.release();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
