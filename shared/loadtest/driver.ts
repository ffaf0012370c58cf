/**
 * Drives autocannon with a request stream (workloads.ts), so a run sends real, varied text rather than one body over
 * and over.
 *
 * Query-only workloads (uniform, zipf): the requests are pre-built. One autocannon run, and each connection gets its
 * own static `requests` array (setupClient → client.setRequests): a distinct slice of the stream, dealt round-robin,
 * sized for `maxQps` (DEFAULT_MAX_QPS) over warm-up + measurement. autocannon builds every buffer once, before the
 * clock starts, then only cycles through them, so the generator costs about what plain autocannon with one static
 * body costs (a per-request `setupRequest` rebuilds the buffer and deep-clones the context on every request: about
 * half the rate against a hello-world). The warm-up is the first seconds of the same run, so the measurement carries
 * on through the rest of each slice and never re-sends a warm-up request; a connection that runs past its slice
 * wraps around, which is counted in `repeated`, never silent. (One instance, not one per connection: autocannon
 * builds the buffers while constructing each client, so separate instances would start staggered by the build.)
 *
 * Mixed workload: every request gets its method, path and body from the stream in `setupRequest` (writes need fresh
 * ids, deletes need documents acknowledged earlier); warm-up and measurement are separate runs. After each
 * acknowledged ingest (200) the FreshnessChecker queries the document's marker word on a separate connection until
 * the document is among the hits (or 1 s passed: a failure); after each acknowledged delete it checks the document
 * is gone. The time from acknowledgement to "visible" is reported.
 *
 * Measuring: responses, status codes and errors are counted from autocannon's events after the warm-up, and QPS is
 * responses over the wall time of that window. autocannon's histogram keeps whole milliseconds, so latency
 * percentiles come from every response's exact latency (the 'response' event).
 */
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { percentile } from '../util/stats.ts';
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
  /**
   * uniform / zipf: requests per second the pre-built arrays are sized for (warm-up + measurement). A faster server
   * wraps around its arrays (reported in `repeated`). Default DEFAULT_MAX_QPS[workload].
   */
  maxQps?: number;
  /** API key sent as `Authorization: Bearer` with every write (the server answers 401 to anonymous writes). */
  apiKey?: string;
  /** Send the key with queries too (for a server that keys its reads). Default false: queries are anonymous. */
  keyOnQueries?: boolean;
  log?: (msg: string) => void;
}

/** Rates the pre-built request arrays are sized for, when LoadOptions.maxQps is not given. */
export const DEFAULT_MAX_QPS: Readonly<Record<'uniform' | 'zipf', number>> = { uniform: 6000, zipf: 20000 };
/** At most this many pre-built requests per run (warm-up + measurement): about 1 KB of heap each once built. */
export const MAX_PREBUILT = 500_000;

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
  /** uniform / zipf: the rate the pre-built arrays were sized for. */
  maxQps?: number;
  /** uniform / zipf: distinct requests pre-built for the run (warm-up + measurement, all connections). */
  prebuilt?: number;
  /**
   * uniform / zipf: requests sent beyond their connection's pre-built slice, i.e. re-sent (for uniform: repeated
   * queries, which the results cache may answer). 0 when nothing wrapped.
   */
  repeated?: number;
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
    private readonly queryHeaders: Record<string, string> = { ...JSON_HEADERS },
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
      headers: { ...this.queryHeaders },
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

const JSON_HEADERS: Record<string, string> = { 'content-type': 'application/json' };

/** The headers of each kind of request: writes carry the API key, queries only when asked to. */
interface RequestHeaders {
  query: Record<string, string>;
  write: Record<string, string>;
  /** DELETE: no body and no content-type (a JSON content-type with an empty body is a 400 in Fastify). */
  del: Record<string, string>;
}

/** New objects on every call: autocannon writes content-length into the headers objects it is given. */
function requestHeaders(opts: Pick<LoadOptions, 'apiKey' | 'keyOnQueries'>): RequestHeaders {
  const auth = (): Record<string, string> => (opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {});
  return {
    query: opts.keyOnQueries ? { ...JSON_HEADERS, ...auth() } : { ...JSON_HEADERS },
    write: { ...JSON_HEADERS, ...auth() },
    del: auth(),
  };
}

function toHttp(req: LoadRequest, h: RequestHeaders): { method: string; path: string; body?: string; headers: Record<string, string> } {
  if (req.kind === 'query') return { method: 'POST', path: '/v1/query', body: req.body, headers: h.query };
  if (req.kind === 'ingest') return { method: 'POST', path: '/v1/documents', body: req.body, headers: h.write };
  return { method: 'DELETE', path: `/v1/documents/${encodeURIComponent(req.id)}`, body: undefined, headers: h.del };
}

/** What one autocannon run measured, after its warm-up. */
interface Measured {
  samples: Samples;
  responses: number;
  /** Wall seconds of the measured window. */
  elapsedSec: number;
  statusCodes: Record<string, number>;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/**
 * Runs autocannon for `warmupSec + seconds` and measures the last `seconds`: responses, exact latencies, status
 * codes and errors are counted from autocannon's events once the warm-up is over (its own totals cover the whole run).
 * The clock starts when autocannon() returns, i.e. once every client and its request buffers are built.
 */
async function runAutocannon(
  opts: LoadOptions,
  warmupSec: number,
  seconds: number,
  configure: Pick<autocannon.Options, 'requests' | 'setupClient'>,
  hooks: {
    /** The clients are built: the run starts. */
    onStart?: (buildSec: number) => void;
    /** The warm-up is over. */
    onMeasure?: () => void;
    /** Building the clients takes long (static buffers): the first request of each connection waits for it. */
    slowBuild?: boolean;
  } = {},
): Promise<Measured> {
  const m: Measured = { samples: new Samples(), responses: 0, elapsedSec: 0, statusCodes: {}, non2xx: 0, errors: 0, timeouts: 0 };
  let instance!: autocannon.Instance;
  const tBuild = performance.now();
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: warmupSec + seconds,
        pipelining: 1,
        timeout: opts.timeout ?? 10,
        headers: requestHeaders(opts).query,
        ...configure,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  hooks.onStart?.((performance.now() - tBuild) / 1000);
  let measuring = false;
  let t0 = 0;
  const startMeasuring = () => {
    measuring = true;
    t0 = performance.now();
    hooks.onMeasure?.();
  };
  const warmupTimer = warmupSec > 0 ? setTimeout(startMeasuring, warmupSec * 1000) : undefined;
  if (!warmupTimer) startMeasuring();
  // Each connection's first request is stamped when its client is built, before the later clients' request buffers
  // are: after a slow build and no warm-up to absorb it, its latency is not a sample.
  const firstSeen = new Set<unknown>();
  let skipFirst = !!hooks.slowBuild && !warmupTimer;
  instance.on('response', (client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (!measuring) return;
    m.responses++;
    m.statusCodes[statusCode] = (m.statusCodes[statusCode] ?? 0) + 1;
    if (skipFirst && !firstSeen.has(client)) {
      firstSeen.add(client);
      skipFirst = firstSeen.size < opts.connections;
      if (statusCode < 200 || statusCode >= 300) m.non2xx++;
      return;
    }
    if (statusCode >= 200 && statusCode < 300) m.samples.push(responseTime);
    else m.non2xx++;
  });
  instance.on('reqError', (err: Error) => {
    if (!measuring) return;
    m.errors++;
    if (err?.message === 'request timed out') m.timeouts++;
  });
  await done;
  clearTimeout(warmupTimer);
  m.elapsedSec = measuring ? (performance.now() - t0) / 1000 : 0;
  return m;
}

/** Mixed: every request taken from the stream as it is sent. */
function runDynamic(opts: LoadOptions, next: () => LoadRequest, seconds: number, checker: FreshnessChecker | undefined): Promise<Measured> {
  const headers = requestHeaders(opts);
  return runAutocannon(opts, 0, seconds, {
    requests: [
      {
        setupRequest: (request, context) => {
          const req = next();
          (context as { req?: LoadRequest }).req = req;
          return { ...request, ...toHttp(req, headers) } as autocannon.Request;
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
  });
}

type StaticRequest = { method: 'POST'; path: '/v1/query'; body: string; headers: Record<string, string> };

/**
 * Takes `perConnection * connections` requests from the stream, dealt round-robin to the connections (so what is
 * sent early in the run is a prefix of the stream, whatever the server's speed).
 */
function prebuild(
  next: () => LoadRequest,
  connections: number,
  perConnection: number,
  log: (msg: string) => void,
  headers: Record<string, string> = JSON_HEADERS,
): StaticRequest[][] {
  const total = perConnection * connections;
  const t0 = performance.now();
  let lastLog = t0;
  let built = 0;
  const slices = Array.from({ length: connections }, () => new Array<StaticRequest>(perConnection));
  for (let i = 0; i < perConnection; i++) {
    for (let c = 0; c < connections; c++) {
      const req = next();
      if (req.kind !== 'query') throw new Error(`prebuild: expected queries only, got ${req.kind}`);
      slices[c][i] = { method: 'POST', path: '/v1/query', body: req.body, headers };
      if ((++built & 4095) === 0 && performance.now() - lastLog > 1000) {
        lastLog = performance.now();
        log(`  building requests: ${built.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`);
      }
    }
  }
  const ms = performance.now() - t0;
  if (ms > 1000) log(`  built ${total.toLocaleString('en-US')} requests in ${(ms / 1000).toFixed(1)} s`);
  return slices;
}

/** Requests per connection for `seconds` (warm-up + measurement) at `maxQps`, capped at MAX_PREBUILT in all. */
export function prebuildSize(maxQps: number, connections: number, seconds: number): number {
  const perConnection = Math.max(1, Math.ceil((maxQps * seconds) / connections));
  return Math.min(perConnection, Math.max(1, Math.floor(MAX_PREBUILT / connections)));
}

/** Loads `url` with `workload`: `warmup` seconds not measured, then `duration` seconds measured. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const log = opts.log ?? (() => {});
  const deletable: Array<{ id: string; marker: string }> = [];
  const stream = requestStream(opts.workload, opts.src, { ...opts.stream, deletable });
  const next = () => stream.next().value as LoadRequest;
  const checker =
    opts.workload === 'mixed' ? new FreshnessChecker(opts.url, opts.freshnessMs ?? 1000, deletable, requestHeaders(opts).query) : undefined;
  const warmup = opts.warmup ?? 3;
  const measuringMsg = `  measuring ${opts.duration} s with ${opts.connections} connections (${opts.workload})`;

  let m: Measured;
  let prebuilt: { maxQps: number; prebuilt: number; repeated: number } | undefined;
  if (opts.workload === 'mixed') {
    if (warmup > 0) {
      log(`  warm-up ${warmup} s`);
      await runDynamic(opts, next, warmup, undefined);
    }
    log(measuringMsg);
    m = await runDynamic(opts, next, opts.duration, checker);
    await checker?.drain();
  } else {
    // One run: the warm-up sends the start of each connection's slice, the measurement carries on through the rest,
    // so no request of the warm-up comes again (unless a slice wraps) and the connections stay open in between.
    const maxQps = opts.maxQps ?? DEFAULT_MAX_QPS[opts.workload];
    if (!(maxQps > 0)) throw new Error(`runLoad: maxQps must be positive, got ${maxQps}`);
    const perConnection = prebuildSize(maxQps, opts.connections, warmup + opts.duration);
    if (perConnection * opts.connections < maxQps * (warmup + opts.duration)) {
      log(`  pre-built requests capped at ${MAX_PREBUILT.toLocaleString('en-US')} (fewer than ${maxQps} req/s for ${warmup + opts.duration} s)`);
    }
    const slices = prebuild(next, opts.connections, perConnection, log, requestHeaders(opts).query);
    const total = perConnection * opts.connections;
    if (total >= 100_000) log(`  autocannon is building ${total.toLocaleString('en-US')} request buffers`);
    const clients: Array<{ reqsMade: number }> = [];
    m = await runAutocannon(
      opts,
      warmup,
      opts.duration,
      {
        // replaced by each client's own slice in setupClient, before its first request
        requests: [slices[0][0]],
        setupClient: (client) => {
          client.setRequests(slices[clients.length]);
          clients.push(client as unknown as { reqsMade: number });
        },
      },
      {
        onStart: (sec) => {
          if (sec > 1) log(`  autocannon built the request buffers in ${sec.toFixed(1)} s`);
          if (warmup > 0) log(`  warm-up ${warmup} s`);
        },
        onMeasure: () => log(measuringMsg),
        slowBuild: true,
      },
    );
    let repeated = 0;
    for (const c of clients) repeated += Math.max(0, c.reqsMade - perConnection);
    prebuilt = { maxQps, prebuilt: total, repeated };
  }

  const values = m.samples.values();
  return {
    url: opts.url,
    workload: opts.workload,
    connections: opts.connections,
    duration: opts.duration,
    requests: m.responses,
    qps: m.elapsedSec > 0 ? m.responses / m.elapsedSec : 0,
    latency: summarizeLatency(values),
    samples: Float64Array.from(values),
    non2xx: m.non2xx,
    statusCodes: m.statusCodes,
    errors: m.errors,
    timeouts: m.timeouts,
    ...(checker ? { freshness: checker.result } : {}),
    ...(prebuilt ?? {}),
  };
}
