/** Text output shared by the load-test commands. */
import { fail } from '../util/cli.ts';
import type { LoadResult } from './driver.ts';

export function formatLoad(name: string, r: LoadResult): string {
  const f = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');
  const lines = [
    `${name} · ${r.workload} · ${r.connections} connections · ${r.duration} s`,
    `  QPS ${r.qps.toFixed(0)}   latency ms: p50 ${f(r.latency.p50)}  p90 ${f(r.latency.p90)}  p99 ${f(r.latency.p99)}  max ${f(r.latency.max)}`,
    `  requests ${r.requests}   non-2xx ${r.non2xx}${r.non2xx ? ` ${JSON.stringify(r.statusCodes)}` : ''}   errors ${r.errors} (timeouts ${r.timeouts})`,
  ];
  if (r.freshness) {
    const fr = r.freshness;
    lines.push(
      `  writes acknowledged: ${fr.ingestsAcked} ingests, ${fr.deletesAcked} deletes; checked ${fr.checked}, ` +
        `not visible within 1 s: ${fr.failures}; visible at first check: ${fr.immediate}; worst ack→visible ${fr.maxVisibleMs.toFixed(0)} ms`,
    );
    for (const ex of fr.failureExamples) lines.push(`    ${ex}`);
  }
  const w = repeatWarning(r);
  if (w) lines.push(`  ${w}`);
  return lines.join('\n');
}

/** Says so when a run went past its pre-built requests (driver.ts) and re-sent some; undefined when it did not. */
export function repeatWarning(r: LoadResult): string | undefined {
  if (!r.repeated) return undefined;
  const sized = `${r.prebuilt ?? '?'} pre-built for ${r.maxQps ?? '?'} req/s`;
  if (r.workload === 'uniform') return `WARNING: uniform stream repeated ${r.repeated} queries (${sized}): raise --max-qps`;
  return `note: ${r.workload} stream re-sent ${r.repeated} pre-built requests (${sized}); raise --max-qps for fresh draws`;
}

export function checkLoopback(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    fail(`--url ${url} is not a URL`);
  }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) fail(`--url ${url}: load tests only run against loopback (127.0.0.1)`);
  return url.replace(/\/$/, '');
}

