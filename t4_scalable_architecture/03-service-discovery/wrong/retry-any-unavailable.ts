/**
 * Wrong (on purpose): the balancer retries every UNAVAILABLE on another instance, whatever the method. A refused
 * call was never run, so sending it again is safe; but a write whose connection died mid-call may have been applied
 * by the instance before it died, and the retry applies it a second time (a double append, a double charge). Only a
 * call that was provably not processed, or an idempotent read, may be sent again.
 *
 * What differs from after.ts: `DiscoveredClient` with `retry: (err) => isRpcError(err, 'UNAVAILABLE')`.
 *
 * @rejected-with the write append was applied 2 times
 */
import { DiscoveredClient, type Registry } from '../../../shared/services/discovery.ts';
import { httpRpcClient } from '../../../shared/services/http-rpc.ts';
import { isRpcError } from '../../../shared/services/rpc.ts';
import type { ClientOptions, ServiceClient } from '../after.ts';

export type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from '../after.ts';
export { startInstance } from '../after.ts';

export async function createClient(registry: Registry, service: string, opts: ClientOptions): Promise<ServiceClient> {
  const discovery = await registry.discover(service);
  const client = new DiscoveredClient(discovery, {
    connect: (inst) => httpRpcClient(inst.url, { connections: opts.connections ?? 4 }),
    idempotent: opts.idempotent,
    retry: (err) => isRpcError(err, 'UNAVAILABLE'),
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
