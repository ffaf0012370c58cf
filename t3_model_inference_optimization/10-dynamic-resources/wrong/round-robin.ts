/**
 * Wrong (on purpose): the planned sessions and threads, but requests dealt to the sessions in turn without waiting
 * for one to be free. Under a burst, several runs land on the same session at once (onnxruntime accepts that), each
 * pulling on that session's threads, while another session may sit idle: the plan's "threads ≤ cores" holds on
 * paper and not at run time.
 *
 * What differs from after.ts: round-robin dispatch instead of a free-session queue.
 *
 * @rejected-with runs at once on one session
 */
import type * as ort from 'onnxruntime-node';
import { defaultCreate, outputRows } from '../../../shared/model/providers.ts';
import { availableCores, planResources } from '../../../shared/model/resources.ts';
import { tokenFeeds } from '../../../shared/model/session.ts';
import type { EncoderPool, PoolOptions } from '../data.ts';

export type { EncoderPool, PoolOptions } from '../data.ts';

export async function openPool(model: Uint8Array, opts: PoolOptions): Promise<EncoderPool> {
  const plan = planResources({ cores: opts.cores ?? availableCores(), concurrency: opts.concurrency, batch: opts.batch });
  const sessions: ort.InferenceSession[] = [];
  for (let i = 0; i < plan.sessions; i++) {
    sessions.push(await (opts.create ?? defaultCreate)(model, { executionProviders: ['cpu'], intraOpNumThreads: plan.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential' }));
  }
  let next = 0;
  return {
    sessions: plan.sessions,
    intraOpThreads: plan.intraOpThreads,
    async embed(lists) {
      if (lists.length === 0) return [];
      const s = sessions[next++ % sessions.length];
      const out = await s.run(tokenFeeds(lists));
      return outputRows(out[s.outputNames[0]], lists.length);
    },
    close: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}
