/**
 * Tracing across real processes: the split services (startSplit, what `npm run t4:up` runs: a gateway, 2 shards and
 * the embedder, each its own process) started with only the standard environment (OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_BSP_SCHEDULE_DELAY) export their spans over OTLP/HTTP (JSON) to a tiny collector this test runs on a free
 * port. One query sent with a client's `traceparent` must come back as one trace with that id, holding the
 * gateway's request span (a child of the client's span), and a SERVER span in the embedder and in every shard, each
 * a child of the gateway's CLIENT span for that hop; each process reports under its own service name.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSplitIndex, startSplit, type Split } from '../services/cli-up.ts';
import { formatTrace, spansOfExport, type ViewSpan as Received } from './trace-view.ts';

const SHARDS = 2;
const received: Received[] = [];
const bodies: string[] = [];
let collector: http.Server | undefined;
let split: Split | undefined;
const log: string[] = [];

/** The part of an OTLP/HTTP collector this test needs: POST /v1/traces with a JSON ExportTraceServiceRequest. */
async function startCollector(): Promise<string> {
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        bodies.push(`unexpected ${req.method} ${req.url} ${req.headers['content-type']}`);
        res.writeHead(415).end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      bodies.push(text.slice(0, 200));
      received.push(...spansOfExport(JSON.parse(text)));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const endpoint = await startCollector();
  const index = await ensureSplitIndex();
  split = await startSplit({
    index,
    shards: SHARDS,
    port: 0,
    shardDeadlineMs: 5_000,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: '', OTEL_SDK_DISABLED: '' },
    supervisor: { log: (l) => log.push(l) },
  });
});

afterAll(async () => {
  await split?.stop();
  await new Promise((r) => (collector ? collector.close(r) : r(undefined)));
});

describe('tracing across the split services (OTLP/HTTP to a collector)', () => {
  it('one query is one trace across gateway, embedder and every shard, continuing the client\'s traceparent', async () => {
    const traceId = 'a3ce929d0e0e47364bf92f3577b34da6';
    const clientSpanId = 'b7ad6b7169203331';
    const res = await fetch(`${split!.url}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${clientSpanId}-01`, 'x-request-timeout-ms': '5000' },
      body: JSON.stringify({ query: 'jury investigation of the election', k: 5 }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { partial: boolean }).partial).toBe(false);

    const want = 3 + 2 + 2 * SHARDS; // request, embed, fanout; embedder client+server; per shard client+server
    const ofTrace = () => received.filter((s) => s.traceId === traceId);
    for (let i = 0; i < 100 && ofTrace().length < want; i++) await new Promise((r) => setTimeout(r, 50));
    const spans = ofTrace();
    const what = (s: Received) => `${s.service} ${['?', 'INTERNAL', 'SERVER', 'CLIENT'][s.kind] ?? s.kind} ${s.name}`;
    expect(spans.map(what).sort(), `spans received: ${received.length}; bodies: ${bodies.slice(0, 3).join(' | ')}`).toEqual(
      [
        'rag-gateway SERVER POST /v1/query',
        'rag-gateway INTERNAL gateway.embed',
        'rag-gateway CLIENT embedder/embed',
        'rag-embedder SERVER embedder/embed',
        'rag-gateway INTERNAL gateway.fanout',
        ...Array.from({ length: SHARDS }, (_, i) => [`rag-gateway CLIENT shard-${i}/search`, `rag-shard SERVER shard-${i}/search`]).flat(),
      ].sort(),
    );
    const one = (service: string, name: string, kind: number) => {
      const found = spans.filter((s) => s.service === service && s.name === name && s.kind === kind);
      expect(found, `${service} ${name}`).toHaveLength(1);
      return found[0];
    };
    const request = one('rag-gateway', 'POST /v1/query', 2);
    expect(request.parentSpanId, 'the gateway continues the client\'s span').toBe(clientSpanId);
    const embedCall = one('rag-gateway', 'embedder/embed', 3);
    expect(one('rag-embedder', 'embedder/embed', 2).parentSpanId, 'the embedder process continues the gateway\'s call').toBe(embedCall.spanId);
    const fanout = one('rag-gateway', 'gateway.fanout', 1);
    expect(fanout.parentSpanId).toBe(request.spanId);
    for (let i = 0; i < SHARDS; i++) {
      const call = one('rag-gateway', `shard-${i}/search`, 3);
      expect(call.parentSpanId).toBe(fanout.spanId);
      const served = one('rag-shard', `shard-${i}/search`, 2);
      expect(served.parentSpanId, `the shard-${i} process continues the gateway's call`).toBe(call.spanId);
      expect(served.instance).toBe(`shard ${i}/${SHARDS}`);
    }
    // what `npx tsx shared/observe/trace-view.ts` prints for it: the request at the root, the hops under it
    const tree = formatTrace(spans).split('\n');
    expect(tree[0]).toBe(`trace ${traceId}  ${want} spans, ${tree[0].split(', ')[1]}`);
    expect(tree[2]).toMatch(/rag-gateway\s+SERVER\s+POST \/v1\/query  \{status 200, rag\.partial false/);
    expect(tree.filter((l) => /rag-shard\s+SERVER\s+.*└─ shard-\d\/search/.test(l))).toHaveLength(SHARDS);
  });
});
