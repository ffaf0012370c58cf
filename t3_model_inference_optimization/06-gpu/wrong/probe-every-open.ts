/**
 * Wrong (on purpose): one provider at a time with the fallback, the session reused, but the probe's memory thrown
 * away: every service starts a fresh `ProviderProbe`, so every model loaded (and every restart of a pool of them)
 * tries CUDA again, fails the same way, and prints onnxruntime's error line again. A provider whose libraries are
 * missing stays missing for the life of the process.
 *
 * What differs from after.ts: `new ProviderProbe(create)` per service instead of the process's `probeFor(create)`.
 *
 * @rejected-with cuda was tried 3 times for 3 services
 */
import { defaultCreate, openBestSession, OutputBuffers, outputDim, ProviderProbe, outputRows } from '../../../shared/model/providers.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from '../data.ts';

export type { EncoderService, EncoderServiceOptions } from '../data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const best = await openBestSession(model, {
    prefer: opts.prefer ?? ['cuda', 'cpu'],
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    cuda: opts.cuda,
    cpu: opts.cpu,
    probe: new ProviderProbe(opts.create ?? defaultCreate),
    log: opts.log,
  });
  const { session } = best;
  const output = session.outputNames[0];
  const buffers = new OutputBuffers(output, outputDim(session)!);
  return {
    provider: best.provider,
    attempts: best.attempts,
    notApplied: best.notApplied,
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
