/**
 * Wrong (on purpose): no restart, and no risk of mixing either: while the new index is built beside the old one, the
 * service answers every query "503 Service Unavailable, Retry-After: 1", then swaps and serves the new version. The
 * listener never closes, so nothing is refused at the TCP level, but every request during the build fails all the
 * same: the old index was there, complete and consistent, and was not used.
 *
 * What differs from after.ts: the /query handler (`query` of ServiceParts) refuses while an update is building (a
 * flag `rebuild` raises around after.ts's build beside), instead of answering from the engine being served; the
 * swap and the service are after.ts's.
 *
 * @rejected-with requests failed during the update
 */
import type { Doc } from '../../../shared/types.ts';
import { startService as startAfter, type HotService, type ServiceOptions } from '../after.ts';
import { answer, buildEngine } from '../service.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

export function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let building = false;
  return startAfter(docs, version, opts, {
    async query(live, body, reply) {
      // the mistake: the index being served is complete, and refused anyway
      if (building) return reply.code(503).header('retry-after', '1').send({ error: 'the index is being updated; retry' });
      const { engine, version: v } = live();
      return answer(engine, v, body.q, body.k ?? 10);
    },
    async rebuild(_current, next, nextVersion) {
      building = true;
      try {
        return { engine: await buildEngine(next, opts), version: nextVersion };
      } finally {
        building = false;
      }
    },
  });
}
