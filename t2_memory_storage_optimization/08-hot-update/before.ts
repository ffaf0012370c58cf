/**
 * A new index version the way it is usually first shipped: stop the server, rebuild the index, start the server
 * again. Here the "restart" happens inside one process (the listener closes, the engine is rebuilt, the listener
 * opens again on the same port); a real restart also pays for a new process and for loading the index, so its gap is
 * longer still.
 *
 * Requests in flight when the update starts are finished (Fastify's close waits for them); every request that arrives
 * while the server is down fails: refused connections, or a 503 on a connection that was already open.
 */
import type { Engine } from '../../shared/engine.ts';
import type { Doc } from '../../shared/types.ts';
import { answer, buildEngine, createApp, listen, queryBodySchema, type HotService, type QueryBody, type ServiceOptions } from './service.ts';

export type { HotService, QueryResponse, ServiceOptions } from './service.ts';

/** Serves `docs` as index version `version` on 127.0.0.1 (a free port unless `opts.port`). */
export async function startService(docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<HotService> {
  let engine: Engine | undefined = await buildEngine(docs, opts);
  let current = version;

  const start = async (port: number) => {
    const app = createApp();
    app.post<{ Body: QueryBody }>('/query', { schema: { body: queryBodySchema } }, (req) => answer(engine!, current, req.body.q, req.body.k ?? 10));
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
        await server.app.close(); // stop: finish what is in flight, refuse the rest
        engine = undefined; // the old index goes with the old process
        engine = await buildEngine(next, opts); // rebuild
        current = nextVersion;
        server = await start(port); // start again, same port
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
