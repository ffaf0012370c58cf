/**
 * Wrong (on purpose): heartbeats, watch and retry are right, but the graceful stop closes the server first and
 * deregisters after. From the moment the port closes until the entry is deleted, callers still list the instance
 * and pick it: their calls are refused ("shutting down", connection refused). A balancer that retries hides it
 * behind an extra round trip; any caller that does not retry sees failed requests. Leave first, then drain.
 *
 * What differs from after.ts: `stop()` runs `server.close()` before `registration.deregister()`.
 *
 * @rejected-with stopped taking calls before it left the registry
 */
import type { Registry } from '../../../shared/services/discovery.ts';
import { serveHttpRpc } from '../../../shared/services/http-rpc.ts';
import type { InstanceOptions, RunningInstance } from '../after.ts';

export type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from '../after.ts';
export { createClient } from '../after.ts';

export async function startInstance(registry: Registry, opts: InstanceOptions): Promise<RunningInstance> {
  const server = await serveHttpRpc(opts.handler);
  const registration = await registry.register({ service: opts.service, id: opts.id, url: server.url }, { ttlMs: opts.ttlMs, heartbeatMs: opts.heartbeatMs });
  let stopping: Promise<void> | undefined;
  return {
    id: opts.id,
    url: server.url,
    server,
    stop: () =>
      (stopping ??= (async () => {
        await server.close(); // drains first: the instance refuses calls while it is still listed
        await registration.deregister();
      })()),
  };
}
