/**
 * Before: a static list of instances, read once at start (the way a config file or an env var lists them).
 *
 * - `startInstance` serves the handler and writes its address into the registry once, the way an operator adds a
 *   line to the config: no TTL refresh. `stop()` closes the server; nobody is told.
 * - `createClient` reads the list once and round-robins over it for the rest of its life.
 *
 * So: an instance that leaves keeps receiving its share of the calls, which fail (connection refused) until the
 * callers are restarted with a new list; an instance that joins receives nothing until then.
 */
import type { Registry } from '../../shared/services/discovery.ts';
import { httpRpcClient, serveHttpRpc } from '../../shared/services/http-rpc.ts';
import type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from './after.ts';

export type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from './after.ts';

export async function startInstance(registry: Registry, opts: InstanceOptions): Promise<RunningInstance> {
  const server = await serveHttpRpc(opts.handler);
  // the config line: written once, with a TTL nobody refreshes (a static list does not expire)
  await registry.backend.put({ service: opts.service, id: opts.id, url: server.url, ttlMs: Number.MAX_SAFE_INTEGER });
  return { id: opts.id, url: server.url, server, stop: () => server.close() };
}

export async function createClient(registry: Registry, service: string, opts: ClientOptions): Promise<ServiceClient> {
  const w = await registry.backend.watch(service, () => {});
  await w.stop();
  const clients = w.initial.sort((a, b) => (a.id < b.id ? -1 : 1)).map((i) => httpRpcClient(i.url, { connections: opts.connections ?? 4 }));
  let next = 0;
  return {
    target: `static:${service}`,
    call: (method, req, callOpts) => {
      if (clients.length === 0) return Promise.reject(new Error(`no instance of ${service} in the list`));
      return clients[next++ % clients.length].call(method, req, callOpts);
    },
    close: async () => void (await Promise.all(clients.map((c) => c.close()))),
  };
}
