/**
 * Wrong (on purpose): after.ts's build beside and one-assignment swap, but the request handler reads the shared
 * reference twice: once to query the engine, and again after the query's await to name the version. A request in
 * flight when the swap happens was answered by the old engine and is labelled with the new version: a response that
 * mixes the two indexes (a client caching by version, or checking what changed, is now wrong). The swap is atomic;
 * the request's view of it is not.
 *
 * What differs from after.ts: the /query handler (reads `live` again after the await instead of once into a local).
 * after.ts's handler and update share the service's state (`live`) inside startService, which exports neither
 * (exporting them would make exercise.ts export them too, and give the solution away), so startService is kept
 * here as a copy with that part changed; the plumbing (engine, app, answer) is service.ts's, as in after.ts.
 *
 * @rejected-with a query in flight during the swap
 */
import type { Engine } from '../../../shared/engine.ts';
import type { Doc } from '../../../shared/types.ts';
import { buildEngine, createApp, listen, queryBodySchema, toResponse, type HotService, type QueryBody, type ServiceOptions } from '../service.ts';

export type { HotService, QueryResponse, ServiceOptions } from '../after.ts';

interface Live {
  readonly engine: Engine;
  readonly version: string;
}

export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let live: Live = { engine: await buildEngine(docs, opts), version };

  const app = createApp();
  app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, async (req) => {
    const result = await live.engine.query(req.body.q, { k: req.body.k ?? 10, answer: false });
    return toResponse(live.version, result); // `live` read again: it may have been swapped during the await
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
        const engine = await buildEngine(next, opts);
        live = { engine, version: nextVersion };
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
