/**
 * Wrong (on purpose): "the engine already has sliced, atomic ingest, so update the live index in place". The listener
 * stays up and no request fails: the documents the new version dropped are removed from the engine being served,
 * then the new version is ingested into it a batch at a time (so that no single write holds the thread for long).
 * But every request answered between two batches sees an index that is neither version: some documents already new,
 * others still old, the corpus statistics (document count, average length) somewhere in between, and it is labelled
 * with the old version's name. Each batch is atomic; the update as a whole is not.
 *
 * What differs from after.ts: update (no second engine; the served one is changed in place, in batches).
 * after.ts's handler and update share the service's state (`live`) inside startService, which exports neither
 * (exporting them would make exercise.ts export them too, and give the solution away), so startService is kept
 * here as a copy with that part changed; the plumbing (engine, app, answer) is service.ts's, as in after.ts.
 *
 * @rejected-with mixed the old and the new index
 */
import type { Doc } from '../../../shared/types.ts';
import { answer, buildEngine, createApp, listen, queryBodySchema, type HotService, type QueryBody, type ServiceOptions } from '../service.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  const engine = await buildEngine(docs, opts);
  let current = version;
  let served = new Set(docs.map((d) => d.id));

  const app = createApp();
  app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, (req) => answer(engine, current, req.body.q, req.body.k ?? 10));
  app.get('/healthz', async () => ({ version: current }));
  const port = await listen(app, opts.port ?? 0);
  let tail: Promise<unknown> = Promise.resolve();

  return {
    url: `http://127.0.0.1:${port}`,
    get version() {
      return current;
    },
    update(next, nextVersion) {
      const run = async () => {
        const keep = new Set(next.map((d) => d.id));
        engine.remove([...served].filter((id) => !keep.has(id)));
        for (let i = 0; i < next.length; i += 8) await engine.ingest(next.slice(i, i + 8));
        current = nextVersion;
        served = keep;
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
