/**
 * Latency and failed requests around a hot update (reload.ts), in time windows of one run: `npm run serve` on the
 * index (its own temporary data directory, the default settings: shedding at 300 ms of event-loop delay, a 1 s
 * deadline, --reload-nice 10), closed-loop clients on keep-alive connections sending distinct Brown phrases (uniform:
 * no cache hits), and after `--quiet` seconds a reload of the same index (POST /v1/admin/reload: copy, new workers,
 * swap). Every request is timed from the moment it is sent; the windows are
 *
 *     quiet     before the reload was asked for
 *     loading   while the new workers load (until 1 s before the switch of connections)
 *     swap      from 1 s before the switch to 1 s after the 200
 *     after     from then to the end (`--after` seconds)
 *
 *     npx tsx shared/serve/bench-reload.ts --index .cache/idx-100k --workers 2 --connections 8 --quiet 30 --after 30
 *
 * Prints a Markdown table (requests, QPS, p50/p99/max of the 200s, non-200 by status, connection errors) and the
 * reload's own figures. Extra serve flags after `--`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brownPhraseSource, distinctPhrases } from '../loadtest/workloads.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { ServeProcess } from './test-process.ts';

const USAGE = `
Usage: npx tsx shared/serve/bench-reload.ts --index <dir> [--workers 2] [--connections 8] [--quiet S] [--after S]
       [--reload <dir>] [--no-reload] [-- <more npm run serve flags>]

Serves <dir>, loads it with closed-loop uniform queries, reloads (<dir> again unless --reload names another index)
after --quiet seconds (default 30), goes on --after seconds (default 30) after the reload's 200, and prints latency
and failures before, during and after the swap. --no-reload: the same without the reload (a control: what the
machine does to the same load; the windows after "quiet" are then empty but "after").
`;

interface Sample {
  sent: number;
  ms: number;
  status: number;
  /** For a non-200: the error message. */
  why?: string;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

runMain(async () => {
  const dash = process.argv.indexOf('--');
  const serveExtra = dash >= 0 ? process.argv.slice(dash + 1) : [];
  if (dash >= 0) process.argv.splice(dash);
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    reload: { type: 'string' },
    workers: { type: 'string' },
    connections: { type: 'string' },
    quiet: { type: 'string' },
    after: { type: 'string' },
    'no-reload': { type: 'boolean' },
  });
  if (!values.index) fail('--index <dir> is required');
  const index = resolve(values.index);
  const target = resolve(values.reload ?? values.index);
  const workers = numberFlag('workers', values.workers, 2, (n) => Number.isInteger(n) && n > 0);
  const connections = numberFlag('connections', values.connections, 8, (n) => Number.isInteger(n) && n > 0);
  const quiet = numberFlag('quiet', values.quiet, 30, (n) => n > 0);
  const after = numberFlag('after', values.after, 30, (n) => n > 0);

  const phrases = distinctPhrases(await brownPhraseSource(), Date.now() % 1e6);
  const data = await mkdtemp(join(tmpdir(), 'rag-bench-reload-'));
  // the serve defaults, except keys (off, loopback) and rate limits (TEST_ENV)
  const s = new ServeProcess(['--index', index, '--workers', String(workers), '--data-dir', data, ...serveExtra]);
  try {
    process.stderr.write(`starting npm run serve -- --index ${index} --workers ${workers} ${serveExtra.join(' ')}\n`);
    await s.start();
    await s.waitServing(900_000);
    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const samples: Sample[] = [];
    let errors = 0;
    const t0 = Date.now();
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const sent = Date.now() - t0;
        try {
          const r = await s.call('POST', '/v1/query', { query: phrases.next().value as string, k: 10 }, { agent, timeoutMs: 30_000 });
          samples.push({ sent, ms: Date.now() - t0 - sent, status: r.status, why: r.status === 200 ? undefined : String(r.json?.message ?? r.text).slice(0, 80) });
        } catch {
          errors++;
          samples.push({ sent, ms: Date.now() - t0 - sent, status: 0 });
        }
      }
    };
    const loops = Array.from({ length: connections }, loop);
    process.stderr.write(`quiet: ${quiet} s with ${connections} connections\n`);
    await new Promise((r) => setTimeout(r, quiet * 1000));
    const reloadSent = Date.now() - t0;
    process.stderr.write(values['no-reload'] ? 'no reload (control)\n' : `reload of ${target}\n`);
    const reload = values['no-reload']
      ? { status: 0, text: '', json: undefined as any, headers: {} }
      : await s.call('POST', '/v1/admin/reload', { index: target }, { timeoutMs: 1_800_000 });
    const reloadDone = Date.now() - t0;
    if (reload.status !== 200 && !values['no-reload']) process.stderr.write(`reload answered ${reload.status}: ${reload.text}\n`);
    const switchLine = s.logLines(/^reload: connections go to the new workers/).at(-1);
    const switchAt = switchLine ? Number(switchLine.time) - t0 : reloadDone;
    process.stderr.write(`reload done in ${((reloadDone - reloadSent) / 1000).toFixed(1)} s; after: ${after} s\n`);
    await new Promise((r) => setTimeout(r, after * 1000));
    stop = true;
    await Promise.all(loops);
    agent.destroy();

    const windows: Array<[string, number, number]> = [
      ['quiet (before the reload)', 0, reloadSent],
      ['loading (new workers boot and load)', reloadSent, Math.max(reloadSent, switchAt - 1000)],
      ['swap (±1 s around the switch)', Math.max(reloadSent, switchAt - 1000), reloadDone + 1000],
      ['after', reloadDone + 1000, Infinity],
    ];
    const rows = windows.map(([name, from, to]) => {
      const w = samples.filter((x) => x.sent >= from && x.sent < to);
      const ok = w.filter((x) => x.status === 200).map((x) => x.ms).sort((a, b) => a - b);
      const span = (Math.min(to, Date.now() - t0) - from) / 1000;
      const bad: Record<string, number> = {};
      for (const x of w) if (x.status !== 200) bad[x.status === 0 ? 'conn' : x.status] = (bad[x.status === 0 ? 'conn' : x.status] ?? 0) + 1;
      const badText = Object.entries(bad).map(([k, v]) => `${v} × ${k}`).join(', ') || '0';
      return `| ${name} | ${span.toFixed(1)} | ${w.length} | ${(w.length / span).toFixed(0)} | ${quantile(ok, 0.5).toFixed(1)} | ${quantile(ok, 0.99).toFixed(1)} | ${ok.length ? ok[ok.length - 1].toFixed(0) : '-'} | ${badText} |`;
    });
    // when the failures happened: per 5 s from the start, with the reload's moments
    const buckets = new Map<number, number>();
    for (const x of samples) if (x.status !== 200) buckets.set(Math.floor(x.sent / 5000), (buckets.get(Math.floor(x.sent / 5000)) ?? 0) + 1);
    process.stderr.write(`  reload asked at ${(reloadSent / 1000).toFixed(1)} s, switch at ${(switchAt / 1000).toFixed(1)} s, 200 at ${(reloadDone / 1000).toFixed(1)} s; not 200 per 5 s: ${[...buckets].map(([b, n]) => `${b * 5}s:${n}`).join(' ')}\n`);
    const whys = new Map<string, number>();
    for (const x of samples) if (x.why) whys.set(`${x.status} ${x.why}`, (whys.get(`${x.status} ${x.why}`) ?? 0) + 1);
    for (const [k, v] of whys) process.stderr.write(`  ${v} × ${k}\n`);
    for (const l of s.logLines(/reload|worker ready|could not/)) process.stderr.write(`  log: ${l.msg} ${JSON.stringify({ worker: l.worker, ms: l.ms, version: l.version, err: l.err })}\n`);
    const ms = reload.json?.ms;
    process.stdout.write(
      [
        `index ${index} (reloaded: ${target}), --workers ${workers}, ${connections} keep-alive connections, uniform hybrid queries (k = 10, answer)`,
        `reload: ${reload.status}, version ${reload.json?.version}, copy ${ms?.copy} ms, load ${ms?.stage} ms, swap ${ms?.swap} ms; connection errors ${errors}`,
        '',
        '| window | s | requests | QPS | p50 ms | p99 ms | max ms | not 200 |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    await s.stop();
    await rm(data, { recursive: true, force: true });
  }
});
