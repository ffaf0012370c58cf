/**
 * A bounded autocannon run against one server, with exact latencies: autocannon's own histogram keeps whole
 * milliseconds, too coarse for sub-millisecond responses, so every response time is also recorded from its
 * 'response' event and the percentiles are computed from those.
 */
import autocannon from 'autocannon';
import { percentile } from '../../shared/util/stats.ts';

export interface LoadOptions {
  url: string;
  /** Request paths, cycled by every connection. */
  paths: readonly string[];
  connections: number;
  /** Seconds of load. */
  seconds: number;
  /** Stop after this many requests instead (a warm-up). */
  amount?: number;
}

export interface LoadSummary {
  requests: number;
  /** Responses per second (any status). */
  qps: number;
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const latencies: number[] = [];
  let responses = 0;
  const t0 = performance.now();
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.seconds,
        ...(opts.amount !== undefined ? { amount: opts.amount } : {}),
        timeout: 10,
        requests: opts.paths.map((path) => ({ method: 'GET' as const, path })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    responses++;
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await done;
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: responses,
    qps: responses / Math.max(elapsed, 1e-9),
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}
