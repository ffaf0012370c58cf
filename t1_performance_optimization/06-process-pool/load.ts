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
  /** Seconds of load (at most, when `amount` is given too). */
  seconds: number;
  /** Stop after this many requests instead: a trial of fixed size, or a warm-up. */
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
  /** Every 2xx response's latency, ms, sorted. */
  latencies: number[];
  /** From the start to the last response, ms: the time the load was actually applied. */
  ms: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const latencies: number[] = [];
  let responses = 0;
  const t0 = performance.now();
  let last = t0;
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.seconds,
        ...(opts.amount !== undefined ? { amount: opts.amount } : {}),
        timeout: 10,
        // autocannon notices the end of a run (duration over, or `amount` answered) only at its next sample tick:
        // sample often, so a short trial does not sit idle for up to a second
        sampleInt: 50,
        requests: opts.paths.map((path) => ({ method: 'GET' as const, path })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    responses++;
    last = performance.now();
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await done;
  const ms = last - t0;
  const elapsed = ms / 1000;
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
    latencies,
    ms,
  };
}
