/**
 * Wrong (on purpose): registry, heartbeats, watch and the graceful stop are right, and the balancer never retries.
 * Graceful leaves cost nothing, but an instance killed with -9 cannot deregister: its entry stays listed until its
 * TTL passes, and every call picked for it in that window fails (connection refused), though two other instances
 * could have answered it. A read that finds its instance gone is worth one more try elsewhere.
 *
 * What differs from after.ts: `DiscoveredClient` with `retry: () => false`.
 *
 * @rejected-with must be retried once on another instance
 */
import { DiscoveredClient, type Registry } from '../../../shared/services/discovery.ts';
import { httpRpcClient } from '../../../shared/services/http-rpc.ts';
import type { ClientOptions, ServiceClient } from '../after.ts';

export type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from '../after.ts';
export { startInstance } from '../after.ts';

export async function createClient(registry: Registry, service: string, opts: ClientOptions): Promise<ServiceClient> {
  const discovery = await registry.discover(service);
  const client = new DiscoveredClient(discovery, {
    connect: (inst) => httpRpcClient(inst.url, { connections: opts.connections ?? 4 }),
    idempotent: opts.idempotent,
    retry: () => false,
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
