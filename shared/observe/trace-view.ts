/**
 * A tiny trace viewer for the lab, with no collector to install: it answers OTLP/HTTP (JSON, what the services
 * export; shared/observe/tracing.ts) on `POST /v1/traces` and prints each trace as a tree once no span of it has
 * arrived for `--quiet-ms`: every span with its service, kind, name, start offset and duration.
 *
 *     npx tsx shared/observe/trace-view.ts --port 4318 &
 *     OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_BSP_SCHEDULE_DELAY=200 npm run t4:up -- --port 8080
 *     curl -s localhost:8080/v1/query -H 'content-type: application/json' -d '{"query":"baseball pitcher"}'
 *
 *     trace 4bf92f3577b34da6a3ce929d0e0e4736  9 spans, 4.8 ms
 *       +0.0      4.8 ms  rag-gateway   SERVER   POST /v1/query  {status 200, rag.partial false}
 *       +0.3      1.1 ms  rag-gateway   INTERNAL ├─ gateway.embed
 *       …
 *
 * A real deployment sends the same spans to an OpenTelemetry Collector, Jaeger or Tempo instead (same variables).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, numberFlag, parseCli } from '../util/cli.ts';

/** A span as OTLP/JSON carries it (ids in hex, times in ns as strings). */
export interface OtlpJsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number; // 1 internal, 2 server, 3 client, 4 producer, 5 consumer
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number; arrayValue?: { values: unknown[] } } }[];
  status?: { code?: number; message?: string };
}

export interface ViewSpan extends OtlpJsonSpan {
  service: string;
  instance?: string;
}

/** The spans of one OTLP/JSON ExportTraceServiceRequest, each with its resource's service name. */
export function spansOfExport(body: unknown): ViewSpan[] {
  const out: ViewSpan[] = [];
  const req = body as { resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: OtlpJsonSpan[] }[] }[] };
  for (const rs of req.resourceSpans ?? []) {
    const attr = (k: string) => rs.resource?.attributes?.find((a) => a.key === k)?.value.stringValue;
    for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) out.push({ ...s, service: attr('service.name') ?? '?', instance: attr('service.instance.id') });
  }
  return out;
}

const KINDS = ['?', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const SHOWN = ['http.response.status_code', 'rag.partial', 'rag.degraded', 'rag.missing_shards', 'rag.budget_ms', 'error.type'];

function value(v: NonNullable<OtlpJsonSpan['attributes']>[number]['value']): string {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.arrayValue) return `[${v.arrayValue.values.map((x) => value(x as never)).join(',')}]`;
  return '?';
}

/** One trace as an indented tree (children by start time), a line per span. */
export function formatTrace(spans: ViewSpan[]): string {
  const ns = (s: string) => BigInt(s);
  const t0 = spans.reduce((m, s) => (ns(s.startTimeUnixNano) < m ? ns(s.startTimeUnixNano) : m), ns(spans[0].startTimeUnixNano));
  const tEnd = spans.reduce((m, s) => (ns(s.endTimeUnixNano) > m ? ns(s.endTimeUnixNano) : m), 0n);
  const ms = (d: bigint) => (Number(d) / 1e6).toFixed(1);
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, ViewSpan[]>();
  const roots: ViewSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId && ids.has(s.parentSpanId)) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
    else roots.push(s);
  }
  const byStart = (a: ViewSpan, b: ViewSpan) => (ns(a.startTimeUnixNano) < ns(b.startTimeUnixNano) ? -1 : 1);
  const width = Math.max(...spans.map((s) => s.service.length));
  const lines = [`trace ${spans[0].traceId}  ${spans.length} spans, ${ms(tEnd - t0)} ms`];
  const walk = (s: ViewSpan, prefix: string, last: boolean, depth: number) => {
    const notes = SHOWN.flatMap((key) => (s.attributes ?? []).filter((a) => a.key === key)).map((a) => `${a.key.replace('http.response.status_code', 'status')} ${value(a.value)}`);
    if (s.status?.code === 2) notes.push(`ERROR ${s.status.message ?? ''}`.trim());
    const branch = depth === 0 ? '' : `${prefix}${last ? '└─ ' : '├─ '}`;
    lines.push(
      `  +${ms(ns(s.startTimeUnixNano) - t0).padEnd(7)} ${ms(ns(s.endTimeUnixNano) - ns(s.startTimeUnixNano)).padStart(7)} ms  ${s.service.padEnd(width)}  ${(KINDS[s.kind] ?? String(s.kind)).padEnd(8)} ${branch}${s.name}${notes.length ? `  {${notes.join(', ')}}` : ''}`,
    );
    const kids = (children.get(s.spanId) ?? []).sort(byStart);
    kids.forEach((k, i) => walk(k, depth === 0 ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, depth + 1));
  };
  const sortedRoots = roots.sort(byStart);
  for (const r of sortedRoots) {
    if (r.parentSpanId) lines.push(`  (parent ${r.parentSpanId}: the caller's span, not in this trace's export)`);
    walk(r, '', true, 0);
  }
  return lines.join('\n');
}

const USAGE = `
Usage: npx tsx shared/observe/trace-view.ts [--port P] [--host H] [--quiet-ms MS]

Receives OTLP/HTTP traces (JSON, POST /v1/traces) and prints each trace as a tree once it is complete. Point the
services at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:<port> (shared/observe/tracing.ts).

Options:
  --port P        port to listen on (default 4318, the OTLP/HTTP port; 0 = any free port, printed on stderr)
  --host H        address (default 127.0.0.1)
  --quiet-ms MS   a trace is printed when no span of it arrived for this long (default 1000)
  -h, --help      show this help
`;

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, { port: { type: 'string' }, host: { type: 'string' }, 'quiet-ms': { type: 'string' } });
  const port = numberFlag('port', values.port, 4318, (n) => Number.isInteger(n) && n >= 0 && n < 65536);
  const quiet = numberFlag('quiet-ms', values['quiet-ms'], 1000, (n) => n > 0);
  const host = values.host ?? '127.0.0.1';
  const traces = new Map<string, { spans: ViewSpan[]; timer: NodeJS.Timeout }>();
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') return res.writeHead(404).end();
    if (!/json/.test(req.headers['content-type'] ?? '')) {
      res.writeHead(415, { 'content-type': 'text/plain' }).end('only OTLP/HTTP with JSON bodies (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let spans: ViewSpan[];
      try {
        spans = spansOfExport(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`not an OTLP JSON export: ${(err as Error).message}\n`);
        return;
      }
      for (const s of spans) {
        const t = traces.get(s.traceId) ?? { spans: [], timer: undefined as unknown as NodeJS.Timeout };
        t.spans.push(s);
        clearTimeout(t.timer);
        t.timer = setTimeout(() => {
          traces.delete(s.traceId);
          process.stdout.write(`${formatTrace(t.spans)}\n\n`);
        }, quiet);
        traces.set(s.traceId, t);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} is in use: pick another with --port` : err.message)));
    server.listen(port, host, () => resolve());
  });
  process.stderr.write(`trace-view: OTLP/HTTP on http://${host}:${(server.address() as AddressInfo).port} (set OTEL_EXPORTER_OTLP_ENDPOINT to it)\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => fail(err.message, 1));
}
