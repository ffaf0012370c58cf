/**
 * Load shedding: a query the server cannot start promptly is refused with 503 + Retry-After instead of queued, so
 * a client can retry elsewhere or later and the queries already running keep their latency. A query is refused when
 *
 * - the event loop's worst delay over the last 250 ms exceeded `maxEventLoopDelayMs` (the process is saturated:
 *   anything admitted now waits behind the backlog), or
 * - `maxInFlight` queries are already in progress.
 *
 * Cache hits are answered before these checks (they cost no engine work). Every refusal, including "not ready" and
 * "shutting down", is counted in rag_shed_total{reason}.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { FastifyReply } from 'fastify';
import type { Metrics } from '../observe/metrics.ts';

export interface LoadSheddingOptions {
  /** Most queries in progress at once. */
  maxInFlight: number;
  /** Event-loop delay in ms beyond which queries are refused; 0 disables the check. */
  maxEventLoopDelayMs: number;
  /** Retry-After seconds sent with 503. */
  retryAfterSeconds: number;
  metrics: Metrics;
}

/** The 503 body. */
export interface Refusal {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
}

const SAMPLE_MS = 250;

export class LoadShedder {
  private inFlight = 0;
  private overloaded = false;
  private readonly lag: IntervalHistogram | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly retryAfter: string;

  constructor(private readonly opts: LoadSheddingOptions) {
    this.retryAfter = String(opts.retryAfterSeconds);
    if (opts.maxEventLoopDelayMs > 0) {
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      this.lag = lag;
      this.timer = setInterval(() => {
        this.overloaded = lag.max / 1e6 > opts.maxEventLoopDelayMs;
        lag.reset();
      }, SAMPLE_MS);
      this.timer.unref();
    }
  }

  /**
   * Admits one query (the caller must `release()` it when done) and returns undefined, or answers 503 on `reply`
   * and returns the body to send.
   */
  admit(reply: FastifyReply): Refusal | undefined {
    if (this.overloaded) return this.refuse(reply, 'event_loop', 'server overloaded (event-loop delay), retry later');
    if (this.inFlight >= this.opts.maxInFlight) {
      return this.refuse(reply, 'in_flight', `server busy (${this.inFlight} queries in progress), retry later`);
    }
    this.inFlight++;
    return undefined;
  }

  release(): void {
    this.inFlight--;
  }

  /** Answers 503 + Retry-After on `reply`, counted under `reason`; returns the body to send. */
  refuse(reply: FastifyReply, reason: string, message: string): Refusal {
    this.opts.metrics.shed.inc({ reason });
    reply.code(503).header('retry-after', this.retryAfter);
    return { statusCode: 503, error: 'Service Unavailable', message };
  }

  /** Forgets the delay measured so far: loading an index blocks the loop for seconds, and that is not load. */
  resetPressure(): void {
    this.lag?.reset();
    this.overloaded = false;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.lag?.disable();
  }
}
