/**
 * Wrong (on purpose): no restart, and no risk of mixing either: while the new index is built beside the old one, the
 * service answers every query "503 Service Unavailable, Retry-After: 1", then swaps and serves the new version. The
 * listener never closes, so nothing is refused at the TCP level, but every request during the build fails all the
 * same: the old index was there, complete and consistent, and was not used.
 *
 * What differs from after.ts: the /query handler refuses while an update is building, instead of answering from the
 * engine being served.
 * after.ts's handler and update share the service's state (`live`) inside startService, which exports neither
 * (exporting them would make exercise.ts export them too, and give the solution away), so startService is kept
 * here as a copy with that part changed; the plumbing (engine, app, answer) is service.ts's, as in after.ts.
 *
 * @rejected-with requests failed during the update
 */
import type { Engine } from '../../../shared/engine.ts';
import type { Doc } from '../../../shared/types.ts';
import { answer, buildEngine, createApp, listen, queryBodySchema, type HotService, type QueryBody, type ServiceOptions } from '../service.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

interface Live {
  readonly engine: Engine;
  readonly version: string;
}

export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let live: Live = { engine: await buildEngine(docs, opts), version };
  let building = false;

  const app = createApp();
  app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, async (req, reply) => {
    if (building) return reply.code(503).header('retry-after', '1').send({ error: 'the index is being updated; retry' });
    const { engine, version: v } = live;
    return answer(engine, v, req.body.q, req.body.k ?? 10);
  });
  app.get('/healthz', async () => ({ version: live.version }));
  const port = await listen(app, opts.port ?? 0);
  let tail: Promise<unknown> = Promise.resolve();

  return {
    url: `http://127.0.0.1:${port}`,
    get version() {
      return live.version;
    },
    update(next, nextVersion) {
      const run = async () => {
        building = true;
        try {
          const engine = await buildEngine(next, opts);
          live = { engine, version: nextVersion };
        } finally {
          building = false;
        }
      };
      const p = tail.then(run, run);
      tail = p.catch(() => {});
      return p;
    },
    close: async () => {
      await tail;
      await app.close();
    },
  };
}
