/**
 * Wrong (on purpose): "the engine already has sliced, atomic ingest, so update the live index in place". The listener
 * stays up and no request fails: the documents the new version dropped are removed from the engine being served,
 * then the new version is ingested into it a batch at a time (so that no single write holds the thread for long).
 * But every request answered between two batches sees an index that is neither version: some documents already new,
 * others still old, the corpus statistics (document count, average length) somewhere in between, and it is labelled
 * with the old version's name. Each batch is atomic; the update as a whole is not.
 *
 * What differs from after.ts: the update (`rebuild` of ServiceParts: no second engine; the served one is changed in
 * place, in batches); the read-once handler and the swap of the reference (here to the same engine) are after.ts's.
 *
 * @rejected-with mixed the old and the new index
 */
import type { Doc } from '../../../shared/types.ts';
import { startService as startAfter, type HotService, type ServiceOptions } from '../after.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

export function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let served = new Set(docs.map((d) => d.id));
  return startAfter(docs, version, opts, {
    async rebuild({ engine }, next, nextVersion) {
      // the mistake: the engine being served is the one changed, and requests keep reading it between batches
      const keep = new Set(next.map((d) => d.id));
      engine.remove([...served].filter((id) => !keep.has(id)));
      for (let i = 0; i < next.length; i += 8) await engine.ingest(next.slice(i, i + 8));
      served = keep;
      return { engine, version: nextVersion };
    },
  });
}
