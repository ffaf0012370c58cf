/**
 * The client that keeps querying the service while it is updated: an open-model load (requests are sent on a fixed
 * schedule, `rate` per second, whether or not earlier ones were answered, as independent users do), over keep-alive
 * connections. Every response is kept, so it can be checked afterwards: did it fail, and which index version do its
 * hits really come from.
 *
 * Latency is counted from the moment a request was due, not from when it was sent: when the process is busy and the
 * request goes out late, that wait is part of what a user sees (no "coordinated omission").
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { QueryResponse } from './service.ts';

export interface Outcome {
  q: string;
  /** When the request was due (performance.now()). */
  due: number;
  /** When its response (or error) arrived. */
  done: number;
  /** 200 with a parseable body. */
  ok: boolean;
  status?: number;
  /** 'ECONNREFUSED', 'ECONNRESET', 'HTTP 503', 'timeout', ... */
  error?: string;
  body?: QueryResponse;
}

export interface LoadOptions {
  /** http://127.0.0.1:<port> */
  url: string;
  queries: readonly string[];
  /** Requests per second. */
  rate: number;
  k?: number;
  /** A request without a response after this many ms fails. Default 10,000. */
  timeoutMs?: number;
}

export class OpenLoad {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly outcomes: Outcome[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private sent = 0;

  constructor(private readonly opts: LoadOptions) {}

  /** Starts sending; requests are due every 1000 / rate ms from now. */
  start(): this {
    this.t0 = performance.now();
    const interval = 1000 / this.opts.rate;
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - this.t0) / interval) + 1;
      while (this.sent < due) {
        const at = this.t0 + this.sent * interval;
        const q = this.opts.queries[this.sent % this.opts.queries.length];
        this.sent++;
        const p = this.request(q, at);
        this.inFlight.add(p);
        p.finally(() => this.inFlight.delete(p));
      }
    }, 2);
    return this;
  }

  /** Stops sending, waits for the requests in flight, returns every outcome in the order they were due. */
  async stop(): Promise<Outcome[]> {
    clearInterval(this.timer);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.agent.destroy();
    return this.outcomes.sort((a, b) => a.due - b.due);
  }

  /**
   * One request now, outside the schedule (recorded like the others); resolves with its outcome when it is answered
   * or failed. For requests one at a time (the outcome is the last one recorded).
   */
  once(q: string): Promise<Outcome> {
    return this.request(q, performance.now()).then(() => this.outcomes[this.outcomes.length - 1]);
  }

  private request(q: string, due: number): Promise<void> {
    const body = JSON.stringify({ q, k: this.opts.k ?? 10 });
    return new Promise<void>((resolve) => {
      let settled = false;
      const finish = (o: Omit<Outcome, 'q' | 'due' | 'done'>) => {
        if (settled) return;
        settled = true;
        this.outcomes.push({ q, due, done: performance.now(), ...o });
        resolve();
      };
      const url = new URL('/query', this.opts.url);
      const req = http.request(
        url,
        { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('error', (err) => finish({ ok: false, status: res.statusCode, error: (err as NodeJS.ErrnoException).code ?? err.message }));
          res.on('end', () => {
            if (res.statusCode !== 200) return finish({ ok: false, status: res.statusCode, error: `HTTP ${res.statusCode}` });
            try {
              finish({ ok: true, status: 200, body: JSON.parse(Buffer.concat(parts).toString('utf8')) as QueryResponse });
            } catch {
              finish({ ok: false, status: 200, error: 'unparseable body' });
            }
          });
        },
      );
      req.setTimeout(this.opts.timeoutMs ?? 10_000, () => {
        req.destroy();
        finish({ ok: false, error: 'timeout' });
      });
      req.on('error', (err) => finish({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
      req.end(body);
    });
  }
}

/** Expected hits per version and query, as `signature` strings. */
export type Expected = ReadonlyMap<string, ReadonlyMap<string, string>>;

/** The hits of a response, exactly (ids and every score), as one comparable string. */
export function signature(hits: QueryResponse['hits']): string {
  return JSON.stringify(hits.map((h) => [h.chunkId, h.score, h.scores.bm25 ?? null, h.scores.dense ?? null]));
}

export interface Tally {
  /** Requests counted (due inside the window). */
  requests: number;
  failed: number;
  /** Failures by reason ('ECONNREFUSED': 12, 'HTTP 503': 3). */
  reasons: Record<string, number>;
  /** 200s whose hits are not what the version they name answers (a mix of the old and the new index, or neither). */
  mixed: number;
  /** One mixed response, described, for a failure message. */
  mixedExample?: string;
  /** 200s per version named. */
  versions: Record<string, number>;
  /** Latency of every 200, ms, from when it was due. */
  latencies: number[];
}

/** Counts failures and mixed responses among the outcomes due in [from, to] (default: all). */
export function tally(outcomes: readonly Outcome[], expected: Expected, from = -Infinity, to = Infinity): Tally {
  const t: Tally = { requests: 0, failed: 0, reasons: {}, mixed: 0, versions: {}, latencies: [] };
  for (const o of outcomes) {
    if (o.due < from || o.due > to) continue;
    t.requests++;
    if (!o.ok || o.body === undefined) {
      t.failed++;
      const why = o.error ?? 'failed';
      t.reasons[why] = (t.reasons[why] ?? 0) + 1;
      continue;
    }
    const v = o.body.version;
    t.versions[v] = (t.versions[v] ?? 0) + 1;
    t.latencies.push(o.done - o.due);
    if (expected.get(v)?.get(o.q) !== signature(o.body.hits)) {
      t.mixed++;
      if (t.mixedExample === undefined) {
        const other = [...expected.keys()].find((w) => w !== v && expected.get(w)?.get(o.q) === signature(o.body!.hits));
        t.mixedExample = `"${o.q}" answered as version ${v} with ${other ? `version ${other}'s hits` : 'hits of neither version'}`;
      }
    }
  }
  return t;
}
