/**
 * Hot update: the new index is built beside the one being served, and swapped in by replacing one reference.
 *
 * 1. **Build beside, in slices.** `update` builds a whole new engine from the new version while the old one keeps
 *    answering. The engine's ingest works in slices of a few milliseconds and lets the event loop run between them
 *    (shared/engine.ts, `ingestSliceMs`), so requests keep being answered during the build, a few ms late at most.
 * 2. **One reference, swapped in one step.** What a request needs (the engine and the name of its version) lives in
 *    one object, `live`, replaced whole by a single assignment once the new engine is complete. Between two
 *    JavaScript statements nothing else runs, so no request can see a half-built index or a new version's name on
 *    the old engine.
 * 3. **Each request reads the reference once.** The handler takes `live` into a local at its start and uses only that
 *    for the rest of the request, across every await. A request in flight at the swap finishes on the old engine and
 *    says so; the old engine is garbage once the last such request is done (no explicit close, no reference count).
 *
 * Nothing is refused and the listener never closes. The price is memory: during an update two indexes are alive.
 *
 * What a request does with `live` and how an update makes the next one are the parts a wrong solution swaps
 * (`ServiceParts`, service.ts): `startService` takes them as an optional fourth argument, by default readOnce and
 * buildBeside below.
 */
import type { Doc } from '../../shared/types.ts';
import {
  answer,
  buildEngine,
  createApp,
  listen,
  queryBodySchema,
  type HotService,
  type Live,
  type QueryBody,
  type QueryResponse,
  type ServiceOptions,
  type ServiceParts,
} from './service.ts';

export type { HotService, QueryResponse, ServiceOptions } from './service.ts';

/** The /query handler: takes the live reference into a local at its start and uses only that, across every await. */
async function readOnce(live: () => Live, body: QueryBody): Promise<QueryResponse> {
  const { engine, version } = live(); // read once: this request is answered from this engine, whatever happens next
  return answer(engine, version, body.q, body.k ?? 10);
}

/** A whole new engine, built in slices beside the one being served, which keeps answering meanwhile. */
async function buildBeside(_current: Live, docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<Live> {
  return { engine: await buildEngine(docs, opts), version };
}

const HOT: ServiceParts = { query: readOnce, rebuild: buildBeside };

/**
 * Serves `docs` as index version `version` on 127.0.0.1 (a free port unless `opts.port`). `parts` replaces what a
 * request or an update does (a wrong solution's mistake); by default, the parts above.
 */
export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions, parts: Partial<ServiceParts> = {}): Promise<HotService> {
  const { query, rebuild } = { ...HOT, ...parts };
  let live: Live = { engine: await buildEngine(docs, opts), version };

  const app = createApp();
  app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, (req, reply) => query(() => live, req.body, reply));
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
        live = await rebuild(live, next, nextVersion, opts); // the swap: one assignment, once the new engine is complete
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
