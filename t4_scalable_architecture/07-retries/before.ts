/**
 * 07-retries, before: on any error, try again at once, up to `maxAttempts` times.
 *
 * The retry loop everyone writes first, and for a blip it works: one lost packet, one restarting shard, and the
 * request succeeds on the second attempt. During an outage it is a load multiplier: every request the shard fails
 * is sent `maxAttempts` times, back to back, so a shard that went down under load receives maxAttempts × that load
 * while it tries to come back (a retry storm; with retries at several layers the factors multiply). It retries
 * errors no attempt can fix (a bad request) and ignores the caller's deadline. The backoff and budget options are
 * accepted and ignored.
 */
import type { CallOptions, RpcClient } from '../../shared/services/rpc.ts';
import type { RetryPolicyOptions } from './after.ts';

export type { RetryPolicyOptions } from './after.ts';

export function createCaller(upstream: RpcClient, opts: RetryPolicyOptions): RpcClient {
  return {
    target: upstream.target,
    async call<Res>(method: string, req: unknown, callOpts?: CallOptions): Promise<Res> {
      let last: unknown;
      for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
        try {
          return await upstream.call<Res>(method, req, callOpts);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    close: () => upstream.close(),
  };
}
