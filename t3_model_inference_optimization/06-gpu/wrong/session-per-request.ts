/**
 * Wrong (on purpose): the provider is chosen properly (probed, one at a time, with the fallback), but the model is
 * opened again for every request, the habit of a request handler that creates what it needs and releases it. Every
 * request pays the session's creation (graph optimisation, weight prepacking, a fresh arena) before its one run.
 *
 * What differs from after.ts: `openBestSession` inside `embed` instead of once in `openEncoderService`.
 *
 * @rejected-with sessions of the model opened for 6 requests
 */
import { defaultCreate, openBestSession, probeFor, outputRows } from '../../../shared/model/providers.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from '../data.ts';

export type { EncoderService, EncoderServiceOptions } from '../data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const open = (log?: (line: string) => void) =>
    openBestSession(model, { prefer: opts.prefer ?? ['cuda', 'cpu'], intraOpNumThreads: opts.intraOpNumThreads ?? 1, cuda: opts.cuda, cpu: opts.cpu, probe: probeFor(opts.create ?? defaultCreate), log });
  const first = await open(opts.log); // to learn the provider
  await first.session.release();
  return {
    provider: first.provider,
    attempts: first.attempts,
    notApplied: first.notApplied,
    async embed(lists) {
      if (lists.length === 0) return [];
      const { session } = await open();
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
