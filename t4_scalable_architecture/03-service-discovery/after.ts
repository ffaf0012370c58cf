/**
 * After: a registry with TTL heartbeats, a watch, graceful deregistration and a balancer that retries once elsewhere.
 *
 * - `startInstance` serves the handler (http-rpc.ts, port 0), registers `{ service, id, url }` with a TTL and keeps
 *   it alive with heartbeats (`Registry.register`, shared/services/discovery.ts). Its graceful `stop()` is
 *   **deregister, then drain**: leave the registry first (callers stop picking it; `/readyz` says 503), give the
 *   callers `drainGraceMs` to hear it, then `close()` the server (no new calls; in-flight calls finish), then exit.
 * - `createClient` follows the live instances (`Registry.discover`: a watch plus local TTL expiry) and balances
 *   over them with a `DiscoveredClient`: a joiner gets calls as soon as its entry arrives, a leaver none once its
 *   entry is gone, and a call that meets an instance that just left (UNAVAILABLE) is sent once more to another
 *   instance when that is safe: the instance provably did not run it (connection refused, "shutting down"), or the
 *   method is idempotent (`idempotent`, reads). A write whose connection died mid-call is not sent twice.
 *
 * An instance killed with -9 cannot deregister: its entry stays until its TTL passes without a heartbeat. Calls
 * picked for it in that window find its port closed (refused: retried elsewhere), and calls in flight on it when it
 * died are cut (reads retried, writes failed: their outcome is unknown).
 */
import { DiscoveredClient, type DiscoveredClientStats, type Registry } from '../../shared/services/discovery.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from '../../shared/services/http-rpc.ts';
import type { RpcClient, RpcHandler } from '../../shared/services/rpc.ts';

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
  /** Graceful stop (SIGTERM): leave, drain, close. Resolves when every in-flight call has been answered. */
  stop(): Promise<void>;
}

export interface ClientOptions {
  /** Methods that are safe to send twice (reads). */
  idempotent: string[];
  /** Kept-alive connections per instance; default 4. */
  connections?: number;
}

/** An RpcClient over the service's instances; `stats` when it counts them (after.ts's does). */
export type ServiceClient = RpcClient & { readonly stats?: DiscoveredClientStats };

export async function startInstance(registry: Registry, opts: InstanceOptions): Promise<RunningInstance> {
  let leaving = false;
  const server = await serveHttpRpc(opts.handler, { ready: () => !leaving });
  const registration = await registry.register({ service: opts.service, id: opts.id, url: server.url }, { ttlMs: opts.ttlMs, heartbeatMs: opts.heartbeatMs });
  let stopping: Promise<void> | undefined;
  return {
    id: opts.id,
    url: server.url,
    server,
    stop: () =>
      (stopping ??= (async () => {
        leaving = true;
        await registration.deregister(); // 1. leave: callers stop picking this instance
        if ((opts.drainGraceMs ?? 0) > 0) await new Promise((r) => setTimeout(r, opts.drainGraceMs)); // 2. let them hear it
        await server.close(); // 3. drain: no new calls, in-flight calls finish
      })()),
  };
}

export async function createClient(registry: Registry, service: string, opts: ClientOptions): Promise<ServiceClient> {
  const discovery = await registry.discover(service);
  const client = new DiscoveredClient(discovery, {
    connect: (inst) => httpRpcClient(inst.url, { connections: opts.connections ?? 4 }),
    idempotent: opts.idempotent,
  });
  return {
    target: client.target,
    stats: client.stats,
    call: (method, req, callOpts) => client.call(method, req, callOpts),
    close: async () => {
      await client.close();
      await discovery.close();
    },
  };
}
