/**
 * The lesson's client and balancer in one: an open-loop load (sent on schedule whatever the answers) of `embed` calls,
 * each sent to the next of the endpoints that are ready *now* (round robin over `endpoints()`, the probe driver's
 * list), over a kept-alive undici pool per endpoint, with no retry: what an HTTP balancer (an ingress, HAProxy in
 * http mode with `retries 0`, the gateway's replica set) does with the endpoints it was given. A failed call is
 * counted by its cause.
 *
 *     const load = startLoad({ endpoints: () => set.endpoints(), rate: 100 });
 *     ... faults ...
 *     const r = await load.stop();   // { sent, ok, failed: { 'no endpoint': 3, refused: 0, ... }, calls }
 */
import { Pool } from 'undici';

export type FailCause = 'no endpoint' | 'refused' | 'reset' | '503' | 'other status' | 'timeout';

export interface LoadReport {
  sent: number;
  ok: number;
  failed: Record<FailCause, number>;
  /** Every call: when it was sent (ms since the load started) and how it ended. */
  calls: { at: number; outcome: 'ok' | FailCause }[];
}

export interface LoadOptions {
  endpoints: () => string[];
  /** Calls per second. */
  rate: number;
  /** The internal credential, if the replicas check one. */
  secret?: string;
  /** A call with no answer within this fails ('timeout'), ms; default 3,000. */
  timeoutMs?: number;
}

export function totalFailed(r: LoadReport): number {
  return Object.values(r.failed).reduce((a, b) => a + b, 0);
}

export function startLoad(opts: LoadOptions): { stop(): Promise<LoadReport>; report: LoadReport; t0: number } {
  const pools = new Map<string, Pool>();
  const pool = (url: string) => {
    let p = pools.get(url);
    if (!p) pools.set(url, (p = new Pool(url, { connections: 32, keepAliveTimeout: 30_000 })));
    return p;
  };
  const report: LoadReport = { sent: 0, ok: 0, failed: { 'no endpoint': 0, refused: 0, reset: 0, '503': 0, 'other status': 0, timeout: 0 }, calls: [] };
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  let rr = 0;
  let stopped = false;
  const one = async (i: number) => {
    const at = performance.now() - t0;
    report.sent++;
    const end = (outcome: 'ok' | FailCause) => {
      report.calls.push({ at, outcome });
      if (outcome === 'ok') report.ok++;
      else report.failed[outcome]++;
    };
    const eps = opts.endpoints();
    if (eps.length === 0) return end('no endpoint');
    const url = eps[rr++ % eps.length];
    try {
      const res = await pool(url).request({
        method: 'POST',
        path: '/rpc/embed',
        headers: { 'content-type': 'application/json', ...(opts.secret ? { 'x-internal-token': opts.secret } : {}) },
        body: JSON.stringify({ texts: [`query number ${i % 97} about the news`] }),
        headersTimeout: opts.timeoutMs ?? 3_000,
        bodyTimeout: opts.timeoutMs ?? 3_000,
      });
      await res.body.text();
      end(res.statusCode === 200 ? 'ok' : res.statusCode === 503 ? '503' : 'other status');
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const code = e.code ?? '';
      end(code === 'ECONNREFUSED' ? 'refused' : code.includes('TIMEOUT') ? 'timeout' : 'reset');
    }
  };
  let i = 0;
  const interval = 1000 / opts.rate;
  const tick = () => {
    if (stopped) return;
    // open loop: catch up on the schedule if the event loop was late
    const due = Math.floor((performance.now() - t0) / interval);
    while (i <= due) {
      const p = one(i++);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    setTimeout(tick, Math.max(1, interval / 2));
  };
  tick();
  return {
    report,
    t0,
    stop: async () => {
      stopped = true;
      await Promise.allSettled([...pending]);
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => {})));
      return report;
    },
  };
}
