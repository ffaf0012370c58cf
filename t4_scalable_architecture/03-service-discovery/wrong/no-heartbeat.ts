/**
 * Wrong (on purpose): registers with a TTL, and never refreshes the entry. Watch, retry and the graceful stop are
 * right. The entry expires one TTL after start-up, while the instance is alive and serving: callers drop it, and once
 * every instance has expired there is nothing left to call. A TTL is a lease: it has to be renewed (heartbeats, at a
 * fraction of the TTL so a lost one or two are survived).
 *
 * What differs from after.ts: one `registry.backend.put` with the TTL instead of `registry.register` (which heartbeats).
 *
 * @rejected-with no heartbeat refreshed it within the
 */
import type { Registry } from '../../../shared/services/discovery.ts';
import { serveHttpRpc } from '../../../shared/services/http-rpc.ts';
import type { InstanceOptions, RunningInstance } from '../after.ts';

export type { InstanceOptions, RunningInstance, ClientOptions, ServiceClient } from '../after.ts';
export { createClient } from '../after.ts';

export async function startInstance(registry: Registry, opts: InstanceOptions): Promise<RunningInstance> {
  const server = await serveHttpRpc(opts.handler);
  await registry.backend.put({ service: opts.service, id: opts.id, url: server.url, ttlMs: opts.ttlMs });
  let stopping: Promise<void> | undefined;
  return {
    id: opts.id,
    url: server.url,
    server,
    stop: () =>
      (stopping ??= (async () => {
        await registry.backend.remove(opts.service, opts.id);
        await server.close();
      })()),
  };
}
