/**
 * EXERCISE 08-hot-update — put a new index version into service without failing a request.
 *
 * As shipped, `update` is correct and naive: it stops the server, rebuilds the index from the new version and starts
 * the server again on the same port. Every response names the version it came from and is right for it, but every
 * request that arrives during the rebuild fails. The checkpoint drives a steady load of queries through an update
 * and counts, rather than times:
 *
 *   - failed requests during the update (refused connections, 503s, resets, timeouts): there must be none;
 *   - responses whose hits are not exactly what the version they name answers (a response mixing the old and the new
 *     index, or from neither): there must be none, under load and for a query that is in flight at the very moment
 *     the new version takes over (it must finish on the index it started on, and say so);
 *   - requests answered while the new index is being built: there must be some (queries keep flowing);
 *   - after `update` resolves, new requests are answered from the new version; two updates run one after the other.
 *
 * What is yours to decide: where the new index is built while the old one serves, how requests are moved to it, and
 * what a request holds on to while it runs. service.ts has the plumbing (building an engine from documents,
 * answering a query, the Fastify app); the embedder is fitted once and frozen.
 *
 * Measure yours beside before and after (the headline is failed requests during an update):
 *   npm run t2 -- --only 08-hot-update --impl exercise --quick
 * Check it: npm run checkpoint -- 08-hot-update
 * Stuck? npm run hint -- 08-hot-update
 */
import type { Doc } from '../../shared/types.ts';
import { answer, buildEngine, createApp, listen, queryBodySchema, type HotService, type QueryBody, type ServiceOptions } from './service.ts';

export type { HotService, QueryResponse, ServiceOptions } from './service.ts';

/** Serves `docs` as index version `version` on 127.0.0.1 (a free port unless `opts.port`). */
export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let engine = await buildEngine(docs, opts);
  let current = version;

  const start = async (port: number) => {
    const app = createApp();
    app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, (req) => answer(engine, current, req.body.q, req.body.k ?? 10));
    app.get('/healthz', async () => ({ version: current }));
    return { app, port: await listen(app, port) };
  };

  let server = await start(opts.port ?? 0);
  const port = server.port;
  let tail: Promise<unknown> = Promise.resolve();

  return {
    url: `http://127.0.0.1:${port}`,
    get version() {
      return current;
    },
    update(next, nextVersion) {
      const run = async () => {
        await server.app.close();
        engine = await buildEngine(next, opts);
        current = nextVersion;
        server = await start(port);
      };
      const p = tail.then(run, run);
      tail = p.catch(() => {});
      return p;
    },
    close: async () => {
      await tail;
      await server.app.close();
    },
  };
}
