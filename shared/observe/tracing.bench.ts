/**
 * What tracing costs on one HTTP RPC call (http-rpc.ts, client and server in this process on 127.0.0.1, a handler
 * that echoes a small request): tracing off, on but not sampled (spans are non-recording, the `traceparent` still
 * travels), on and sampled (a CLIENT and a SERVER span per call, batched and exported over OTLP/HTTP JSON to a
 * collector in another process), and on and sampled with spans dropped at export (the span work without the
 * export). Variants are run in turn, `--rounds` times, so a drift of the machine hits all of them alike; the table
 * gives each variant's median of its round means, with the spread of those means, in CPU time of this process per
 * call (client, server and exporter: what a machine busy with other work stretches least) and in wall time.
 * Also the helpers' own cost when tracing is off (`inSpan` around a resolved promise vs the call alone), in ns.
 *
 *     npx tsx shared/observe/tracing.bench.ts [--time MS] [--rounds N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Bench } from 'tinybench';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { httpRpcClient, serveHttpRpc } from '../services/http-rpc.ts';
import { fail, numberFlag, parseCli } from '../util/cli.ts';
import { flushTracing, initTracing, inSpan, shutdownTracing, type TracingConfig } from './tracing.ts';

const USAGE = `
Usage: npx tsx shared/observe/tracing.bench.ts [--time MS] [--rounds N]

One HTTP RPC call (client and server in this process, loopback) with tracing off, on but not sampled, on and
sampled (exported over OTLP/HTTP to a collector in a child process) and on and sampled with spans dropped at
export. Prints a table: median of the round means (µs per call), spread, and the overhead against "off".

Options:
  --time MS     time per variant per round (default 500)
  --rounds N    rounds, the variants in turn in each, after one warm-up round not counted (default 5)
  -h, --help    show this help
`;

/** A collector that accepts OTLP/HTTP and drops it, in its own process (its work must not be measured). */
async function startSink(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', `
    const s = require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => r.writeHead(200, {'content-type': 'application/json'}).end('{}')); });
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
    process.on('disconnect', () => process.exit(0));
  `], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (c) => reject(new Error(`the OTLP sink exited with ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}/v1/traces`, child };
}

const dropAll: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, { time: { type: 'string' }, rounds: { type: 'string' } });
  const time = numberFlag('time', values.time, 500, (n) => n > 0);
  const rounds = numberFlag('rounds', values.rounds, 5, (n) => Number.isInteger(n) && n >= 1);
  const sink = await startSink();
  const server = await serveHttpRpc(async (_m, req) => req, { service: 'echo' });
  const client = httpRpcClient(server.url, { service: 'echo' });
  const req = { text: 'jury investigation of the election', k: 10 };
  const variants: { name: string; config: TracingConfig | undefined }[] = [
    { name: 'off', config: undefined },
    { name: 'on, not sampled', config: { serviceName: 'bench', exporter: sink.url, sampler: 'parentbased_always_off' } },
    { name: 'on, sampled, OTLP/HTTP export', config: { serviceName: 'bench', exporter: sink.url } },
    { name: 'on, sampled, spans dropped', config: { serviceName: 'bench', exporter: dropAll } },
  ];
  const means = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const cpuPerCall = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  try {
    // round 0 warms every path up (JIT, connections, the exporter) and is not counted
    for (let r = 0; r <= rounds; r++) {
      for (const v of variants) {
        await initTracing(v.config);
        const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
        let calls = 0;
        bench.add(v.name, async () => {
          calls++;
          await client.call('echo', req);
        });
        const cpu0 = process.cpuUsage();
        await bench.run();
        await flushTracing(); // the export of this variant's spans is part of its CPU
        const cpu = process.cpuUsage(cpu0);
        const res = bench.tasks[0].result as { latency?: { mean: number } } | undefined;
        if (!res?.latency) throw new Error(`variant "${v.name}" did not complete: ${JSON.stringify(bench.tasks[0].result)}`);
        if (r > 0) {
          means.get(v.name)!.push(res.latency.mean * 1000); // µs
          cpuPerCall.get(v.name)!.push((cpu.user + cpu.system) / calls); // µs
        }
        process.stderr.write(`${r === 0 ? 'warm-up' : `round ${r}/${rounds}`}: ${v.name.padEnd(30)} ${(res.latency.mean * 1000).toFixed(1)} µs/call wall, ${((cpu.user + cpu.system) / calls).toFixed(1)} µs/call CPU\n`);
        await shutdownTracing();
      }
    }
    // the helpers' cost when tracing is off: inSpan around a resolved promise vs the promise alone
    const micro = new Bench({ time });
    const resolved = () => Promise.resolve(1);
    micro.add('resolved promise', () => resolved());
    micro.add('inSpan(resolved promise), tracing off', () => inSpan('x', {}, resolved));
    await micro.run();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const cell = (all: Map<string, number[]>, name: string) => {
      const xs = all.get(name)!;
      const m = median(xs);
      const base = median(all.get('off')!);
      const d = m - base;
      return `${m.toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}) | ${name === 'off' ? '1.00' : `${(m / base).toFixed(2)} (${d >= 0 ? '+' : ''}${d.toFixed(1)})`}`;
    };
    console.log(`\nOne HTTP RPC call, loopback, Node ${process.version}, ${new Date().toISOString()}, ${rounds} round(s) × ${time} ms per variant`);
    console.log('CPU = user + system time of this process (client, server and exporter) per call: what a busy machine stretches least.');
    console.log('\n| Variant | CPU µs per call, median (min–max of rounds) | CPU vs off | wall µs per call, median (min–max) | wall vs off |');
    console.log('|---|---:|---:|---:|---:|');
    for (const v of variants) console.log(`| ${v.name} | ${cell(cpuPerCall, v.name)} | ${cell(means, v.name)} |`);
    console.log('\n| Helper, tracing off | ns per call |');
    console.log('|---|---:|');
    for (const t of micro.tasks) {
      const lat = (t.result as { latency?: { mean: number } }).latency;
      console.log(`| ${t.name} | ${lat ? (lat.mean * 1e6).toFixed(0) : 'failed'} |`);
    }
  } finally {
    await shutdownTracing();
    await client.close();
    await server.close();
    sink.child.disconnect();
  }
}

main().catch((err: Error) => fail(err.message, 1));
