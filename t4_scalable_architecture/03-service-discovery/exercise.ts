/**
 * EXERCISE 03-service-discovery: instances join and leave under load, and no request fails.
 *
 * As shipped it is before.ts: a static list. Each instance writes its address into the registry once; the client
 * reads the list once at start and round-robins over it. An instance that leaves keeps its share of the calls (they
 * fail: connection refused) and one that joins gets none, until the callers restart.
 *
 * `startInstance(registry, { service, id, handler, ttlMs, heartbeatMs, drainGraceMs })` serves `handler` and returns
 * `{ id, url, server, stop }`; `stop()` is the graceful stop a SIGTERM runs. `createClient(registry, service,
 * { idempotent, connections })` returns an RpcClient over the service's instances. The registry is a `Registry`
 * (shared/services/discovery.ts): `register` (an entry with a TTL, kept alive by heartbeats; `deregister()`),
 * `discover` (the live instances, followed by a watch), and `DiscoveredClient` (a balancer with a retry rule). Yours
 * to decide: the order of a graceful stop, and which failed calls may be sent again to another instance.
 *
 * What must hold (checked by `npm run checkpoint -- 03-service-discovery`: a manual clock, failures counted):
 *   - a new instance receives its share of the calls as soon as it has registered;
 *   - a live instance stays listed however long it runs: the entry is refreshed before its TTL runs out;
 *   - a graceful leave under load fails no request: the instance leaves the registry while it still takes calls,
 *     then finishes the calls it has, then closes;
 *   - a kill -9 (no goodbye: the entry lives out its TTL) fails no read: a read that finds its instance gone is sent
 *     once more, to another instance;
 *   - a write is never applied twice: one whose instance may have run it (the connection died mid-call) fails with
 *     UNAVAILABLE instead of being sent elsewhere; only a call that was never processed may be.
 *
 * Then measure failed requests during churn beside before and after:
 *   npm run t4 -- --only 03-service-discovery --impl exercise --quick
 * Stuck? npm run hint -- 03-service-discovery
 */
import type { Registry } from '../../shared/services/discovery.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from '../../shared/services/http-rpc.ts';
import type { RpcClient, RpcHandler } from '../../shared/services/rpc.ts';
import type { DiscoveredClientStats } from '../../shared/services/discovery.ts';

export interface InstanceOptions {
  service: string;
  /** Unique within the service (letters, digits, '-', '_'). */
  id: string;
  handler: RpcHandler;
  /** How long the registry believes the entry without a heartbeat, ms. */
  ttlMs: number;
  /** Heartbeat interval, ms (below ttlMs; ttlMs / 3 lets two be lost). */
  heartbeatMs: number;
  /** After leaving the registry, how long to keep serving before draining, ms: the time callers need to hear it. Default 0. */
  drainGraceMs?: number;
}

export interface RunningInstance {
  readonly id: string;
  readonly url: string;
  /** The http-rpc server (tests and benches count its calls, or cut its connections to play a kill -9). */
  readonly server: HttpRpcServer;
  /** Graceful stop (SIGTERM): resolves when every in-flight call has been answered. */
  stop(): Promise<void>;
}

export interface ClientOptions {
  /** Methods that are safe to send twice (reads). */
  idempotent: string[];
  /** Kept-alive connections per instance; default 4. */
  connections?: number;
}

/** An RpcClient over the service's instances; `stats` when it counts them. */
export type ServiceClient = RpcClient & { readonly stats?: DiscoveredClientStats };

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
