/**
 * Drives autocannon with a request stream (workloads.ts): every request gets its method, path and body from the
 * stream in `setupRequest`, so a run sends real, varied text rather than one body over and over.
 *
 * Latency: autocannon's histogram keeps whole milliseconds, so the driver also records every response's exact
 * latency (autocannon's 'response' event) and computes p50 / p90 / p99 / max from those.
 *
 * Mixed workload: after each acknowledged ingest (200) the FreshnessChecker queries the document's marker word on a
 * separate connection until the document is among the hits (or 1 s passed: a failure); after each acknowledged
 * delete it checks the document is gone. The time from acknowledgement to "visible" is reported.
 */
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { percentile } from '../lab/stats.ts';
import { requestStream, type LoadRequest, type PhraseSource, type StreamOptions, type WorkloadName } from './workloads.ts';

export interface LoadOptions {
  url: string;
  workload: WorkloadName;
  /** Measured seconds. */
  duration: number;
  connections: number;
  /** Seconds of load before measuring (same stream, results discarded). Default 3. */
  warmup?: number;
  src: PhraseSource;
  stream?: StreamOptions;
  /** Freshness deadline for mixed: an acknowledged write must be visible within this many ms. Default 1000. */
  freshnessMs?: number;
  /** Per-request timeout in seconds. Default 10. */
  timeout?: number;
  log?: (msg: string) => void;
}

export interface LatencySummary {
  mean: number;
  sd: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface FreshnessResult {
  ingestsAcked: number;
  deletesAcked: number;
  checked: number;
  /** Acknowledged writes not visible (ingest) or still visible (delete) after `freshnessMs`. */
  failures: number;
  /** Writes visible at the first check (no retry needed). */
  immediate: number;
  /** ms from acknowledgement to visible, worst case. */
  maxVisibleMs: number;
  failureExamples: string[];
}

export interface LoadResult {
  url: string;
  workload: WorkloadName;
  connections: number;
  duration: number;
  requests: number;
  /** Responses per second over the measured window (any status). */
  qps: number;
  /** Latency of 2xx responses, ms. */
  latency: LatencySummary;
  /** Exact 2xx latencies (ms), for summaries; not written to JSON. */
  samples?: Float64Array;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  freshness?: FreshnessResult;
}

class Samples {
  buf = new Float64Array(1 << 16);
  n = 0;
  push(v: number) {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

export function summarizeLatency(values: Float64Array): LatencySummary {
  if (values.length === 0) return { mean: NaN, sd: NaN, min: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / sorted.length;
  let ss = 0;
  for (const v of sorted) ss += (v - mean) ** 2;
  return {
    mean,
    sd: Math.sqrt(ss / Math.max(1, sorted.length - 1)),
    min: sorted[0],
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}

class FreshnessChecker {
  readonly result: FreshnessResult = {
    ingestsAcked: 0,
    deletesAcked: 0,
    checked: 0,
    failures: 0,
    immediate: 0,
    maxVisibleMs: 0,
    failureExamples: [],
  };
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    private readonly deadlineMs: number,
    private readonly deletable: Array<{ id: string; marker: string }>,
  ) {}

  acked(req: LoadRequest): void {
    if (req.kind === 'query') return;
    if (req.kind === 'ingest') this.result.ingestsAcked++;
    else this.result.deletesAcked++;
    const p = this.check(req.kind === 'ingest', req.id, req.marker).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async visible(id: string, marker: string): Promise<boolean> {
    const res = await fetch(`${this.url}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: marker, k: 10, mode: 'hybrid' }),
    });
    if (res.status !== 200) throw new Error(`check query answered ${res.status}`);
    const body = (await res.json()) as { hits: Array<{ docId: string }> };
    return body.hits.some((h) => h.docId === id);
  }

  private async check(shouldExist: boolean, id: string, marker: string): Promise<void> {
    const t0 = performance.now();
    let first = true;
    for (;;) {
      let ok = false;
      try {
        ok = (await this.visible(id, marker)) === shouldExist;
      } catch {
        ok = false;
      }
      const elapsed = performance.now() - t0;
      if (ok) {
        this.result.checked++;
        if (first) this.result.immediate++;
        this.result.maxVisibleMs = Math.max(this.result.maxVisibleMs, first ? 0 : elapsed);
        if (shouldExist) this.deletable.push({ id, marker });
        return;
      }
      first = false;
      if (elapsed > this.deadlineMs) {
        this.result.checked++;
        this.result.failures++;
        if (this.result.failureExamples.length < 5) {
          this.result.failureExamples.push(`${shouldExist ? 'ingest' : 'delete'} of ${id} not visible after ${elapsed.toFixed(0)} ms`);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function toHttp(req: LoadRequest): { method: string; path: string; body?: string; headers: Record<string, string> } {
  if (req.kind === 'query') return { method: 'POST', path: '/v1/query', body: req.body, headers: JSON_HEADERS };
  if (req.kind === 'ingest') return { method: 'POST', path: '/v1/documents', body: req.body, headers: JSON_HEADERS };
  // no body and no content-type: a JSON content-type with an empty body is a 400 in Fastify
  return { method: 'DELETE', path: `/v1/documents/${encodeURIComponent(req.id)}`, body: undefined, headers: {} };
}

interface Phase {
  samples: Samples;
  responses: number;
  elapsedSec: number;
  result: autocannon.Result;
}

async function runPhase(
  opts: LoadOptions,
  next: () => LoadRequest,
  seconds: number,
  checker: FreshnessChecker | undefined,
): Promise<Phase> {
  const samples = new Samples();
  let responses = 0;
  const t0 = performance.now();
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: seconds,
    pipelining: 1,
    timeout: opts.timeout ?? 10,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request, context) => {
          const req = next();
          (context as { req?: LoadRequest }).req = req;
          return { ...request, ...toHttp(req) } as autocannon.Request;
        },
        ...(checker
          ? {
              onResponse: (status: number, _body: string, context: object) => {
                const req = (context as { req?: LoadRequest }).req;
                if (req && status === 200) checker.acked(req);
              },
            }
          : {}),
      },
    ],
  }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    responses++;
    if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
  });
  const result = await done;
  return { samples, responses, elapsedSec: (performance.now() - t0) / 1000, result };
}

/** Runs a warm-up then a measured autocannon run of `workload` against `url`. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const log = opts.log ?? (() => {});
  const deletable: Array<{ id: string; marker: string }> = [];
  const stream = requestStream(opts.workload, opts.src, { ...opts.stream, deletable });
  const next = () => stream.next().value as LoadRequest;
  const checker = opts.workload === 'mixed' ? new FreshnessChecker(opts.url, opts.freshnessMs ?? 1000, deletable) : undefined;

  const warmup = opts.warmup ?? 3;
  if (warmup > 0) {
    log(`  warm-up ${warmup} s`);
    await runPhase(opts, next, warmup, undefined);
  }
  log(`  measuring ${opts.duration} s with ${opts.connections} connections (${opts.workload})`);
  const phase = await runPhase(opts, next, opts.duration, checker);
  await checker?.drain();
  const r = phase.result;
  const statusCodes: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = (v as { count: number }).count;
  const values = phase.samples.values();
  return {
    url: opts.url,
    workload: opts.workload,
    connections: opts.connections,
    duration: opts.duration,
    requests: phase.responses,
    qps: phase.responses / r.duration,
    latency: summarizeLatency(values),
    samples: Float64Array.from(values),
    non2xx: r.non2xx,
    statusCodes,
    errors: r.errors,
    timeouts: r.timeouts,
    ...(checker ? { freshness: checker.result } : {}),
  };
}
