/**
 * Wrong: "the listeners were the leak, so they are gone". The cache is the engine's byte-capped ResultsCache and the
 * op log a ring, but nothing tells the cache about an update any more: every answer cached before a write keeps
 * being served after it, until it happens to be evicted. The leak is fixed by breaking correctness.
 *
 * What differs from after.ts: no 'update' listener (after.ts's server with its one listener taken off).
 *
 * @rejected-with stale answer after an update
 */
import type { Engine } from '../../../shared/engine.ts';
import { startServer as startAfter, type QueryServer, type ServerOptions } from '../after.ts';

export type { QueryServer, ServerOptions, ServerStats } from '../after.ts';

export async function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  const server = await startAfter(engine, opts);
  server.events.removeAllListeners('update');
  return server;
}
