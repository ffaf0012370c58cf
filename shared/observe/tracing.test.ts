/**
 * Tracing in one process (shared/observe/tracing.ts): a gateway search over real HTTP RPC shard and embedder
 * servers on 127.0.0.1 records one trace whose every span has the right parent (the gateway's request span, its
 * embed and fan-out spans, one CLIENT and one SERVER span per hop), continuing the client's `traceparent`; a client
 * that says "not sampled" gets no spans at all; tracing off records nothing and calls straight through. And the
 * environment is read as the OpenTelemetry SDKs read it, bad values refused with a clear error.
 * The same across real processes exporting OTLP/HTTP: tracing-split.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../engine.ts';
import { ensureSplitIndex } from '../services/cli-up.ts';
import { embedderHandler } from '../services/embedder-service.ts';
import { createGatewayApp, Gateway } from '../services/gateway.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from '../services/http-rpc.ts';
import { partFromEngine, shardHandler } from '../services/shard-service.ts';
import { grpcRpcClient, serveGrpcRpc } from '../services/grpc-rpc.ts';
import { natsRpcClient, natsSkipReason, serveNatsRpc } from '../services/nats-rpc.ts';
import type { RpcClient, RpcHandler } from '../services/rpc.ts';
import { initTracing, inSpan, shutdownTracing, tracingConfigFromEnv, tracingOn } from './tracing.ts';

const SHARDS = 2;
let memory = new InMemorySpanExporter();
/** Tracing on into a fresh in-memory exporter (a shut-down exporter refuses spans). */
async function traceToMemory(): Promise<void> {
  memory = new InMemorySpanExporter();
  await initTracing({ serviceName: 'rag-test', exporter: memory, processor: 'simple' });
}
let engine: Engine;
const servers: HttpRpcServer[] = [];
let gateway: Gateway | undefined;
let app: FastifyInstance | undefined;
let url = '';

const KIND: readonly string[] = ['INTERNAL', 'SERVER', 'CLIENT'];
const describeSpan = (s: ReadableSpan) => `${KIND[s.kind] ?? s.kind} ${s.name}`;

beforeAll(async () => {
  engine = await loadEngine(await ensureSplitIndex(), { llm: null });
  // tracing on before the services are built: the gateway app registers its request hooks only when it is on
  await traceToMemory();
  const shards = [];
  for (let i = 0; i < SHARDS; i++) {
    const s = await serveHttpRpc(shardHandler(partFromEngine(engine, i, SHARDS)), { service: `shard-${i}` });
    servers.push(s);
    shards.push(httpRpcClient(s.url, { service: `shard-${i}` }));
  }
  const emb = await serveHttpRpc(embedderHandler(engine.embedder), { service: 'embedder' });
  servers.push(emb);
  gateway = new Gateway({ shards, embedder: httpRpcClient(emb.url, { service: 'embedder' }), shardDeadlineMs: 5_000, defaultTimeoutMs: 5_000 });
  await gateway.init();
  app = await createGatewayApp(gateway, { auth: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
  await gateway?.close();
  await Promise.all(servers.map((s) => s.close()));
  await shutdownTracing();
});

async function query(headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: 'jury investigation of the election', k: 5 }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** The spans of one request: a SimpleSpanProcessor exports each as it ends; the request span ends just after the answer. */
async function spansOf(traceId: string, atLeast: number): Promise<ReadableSpan[]> {
  for (let i = 0; i < 100; i++) {
    const spans = memory.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    if (spans.length >= atLeast) return spans;
    await new Promise((r) => setTimeout(r, 20));
  }
  return memory.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

describe('one gateway search, traced in one process', () => {
  it('is one trace continuing the client\'s traceparent, every hop a CLIENT and a SERVER span under the right parent', async () => {
    memory.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpanId = '00f067aa0ba902b7';
    const body = await query({ traceparent: `00-${traceId}-${clientSpanId}-01` });
    expect(body.partial).toBe(false);
    // request, embed, fanout; embedder client+server; per shard client+server
    const want = 3 + 2 + 2 * SHARDS;
    const spans = await spansOf(traceId, want);
    const all = memory.getFinishedSpans();
    expect(all.filter((s) => s.spanContext().traceId !== traceId).map(describeSpan), 'spans of another trace').toEqual([]);
    expect(spans.map(describeSpan).sort()).toEqual(
      ['SERVER POST /v1/query', 'INTERNAL gateway.embed', 'CLIENT embedder/embed', 'SERVER embedder/embed', 'INTERNAL gateway.fanout',
        ...Array.from({ length: SHARDS }, (_, i) => [`CLIENT shard-${i}/search`, `SERVER shard-${i}/search`]).flat()].sort(),
    );
    const one = (kind: string, name: string) => {
      const found = spans.filter((s) => describeSpan(s) === `${kind} ${name}`);
      expect(found, `${kind} ${name}`).toHaveLength(1);
      return found[0];
    };
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
    const request = one('SERVER', 'POST /v1/query');
    expect(parentOf(request), 'the request span continues the client\'s span').toBe(clientSpanId);
    expect(request.attributes['http.response.status_code']).toBe(200);
    expect(request.attributes['rag.partial']).toBe(false);
    expect(request.attributes['http.route']).toBe('/v1/query');
    const embed = one('INTERNAL', 'gateway.embed');
    const fanout = one('INTERNAL', 'gateway.fanout');
    expect(parentOf(embed)).toBe(request.spanContext().spanId);
    expect(parentOf(fanout)).toBe(request.spanContext().spanId);
    const embedCall = one('CLIENT', 'embedder/embed');
    expect(parentOf(embedCall)).toBe(embed.spanContext().spanId);
    expect(parentOf(one('SERVER', 'embedder/embed')), 'the embedder continues the gateway\'s call').toBe(embedCall.spanContext().spanId);
    for (let i = 0; i < SHARDS; i++) {
      const call = one('CLIENT', `shard-${i}/search`);
      expect(parentOf(call), `shard-${i}'s call is a child of the fan-out`).toBe(fanout.spanContext().spanId);
      expect(call.attributes['server.port']).toBe(servers[i].port);
      expect(parentOf(one('SERVER', `shard-${i}/search`)), `shard-${i} continues the gateway's call`).toBe(call.spanContext().spanId);
    }
    expect(spans.every((s) => s.status.code !== 2), 'no span is an error').toBe(true);
  });

  it('starts a new trace for a request without traceparent, its request span a root', async () => {
    memory.reset();
    await query();
    const request = await (async () => {
      for (let i = 0; i < 100; i++) {
        const r = memory.getFinishedSpans().find((s) => s.name === 'POST /v1/query');
        if (r) return r;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error('no request span recorded');
    })();
    expect(request.parentSpanContext).toBeUndefined();
    const spans = await spansOf(request.spanContext().traceId, 3 + 2 + 2 * SHARDS);
    expect(spans).toHaveLength(3 + 2 + 2 * SHARDS);
  });

  it('records nothing for a client that did not sample (flags 00): the trace is whole or absent', async () => {
    memory.reset();
    await query({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' });
    await new Promise((r) => setTimeout(r, 100));
    expect(memory.getFinishedSpans().map(describeSpan)).toEqual([]);
  });

  it('off: the same search answers the same and records nothing', async () => {
    const on = await query();
    await shutdownTracing();
    try {
      expect(tracingOn()).toBe(false);
      memory.reset();
      const off = await query({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
      expect(off.hits.map((h: { chunkId: string }) => h.chunkId)).toEqual(on.hits.map((h: { chunkId: string }) => h.chunkId));
      await new Promise((r) => setTimeout(r, 50));
      expect(memory.getFinishedSpans()).toHaveLength(0);
    } finally {
      await traceToMemory();
    }
  });
});

const natsSkip = await natsSkipReason();
if (natsSkip) console.warn(`tracing over NATS skipped: ${natsSkip}`);

describe('every transport carries the trace (HTTP headers, gRPC metadata, NATS headers)', () => {
  const transports: { name: string; skip?: string; pair(h: RpcHandler): Promise<{ client: RpcClient; close(): Promise<void> }> }[] = [
    {
      name: 'http',
      pair: async (h) => {
        const s = await serveHttpRpc(h, { service: 'echo' });
        const client = httpRpcClient(s.url, { service: 'echo' });
        return { client, close: async () => (await client.close(), await s.close()) };
      },
    },
    {
      name: 'grpc',
      pair: async (h) => {
        const s = await serveGrpcRpc(h, { service: 'echo' });
        const client = grpcRpcClient(s.address, { service: 'echo' });
        return { client, close: async () => (await client.close(), await s.close()) };
      },
    },
    {
      name: 'nats',
      skip: natsSkip,
      pair: async (h) => {
        const subject = `test.tracing.${process.pid}.${Date.now()}`;
        const s = await serveNatsRpc(h, { subject, service: 'echo' });
        const client = natsRpcClient({ subject, service: 'echo' });
        return { client, close: async () => (await client.close(), await s.close()) };
      },
    },
  ];
  for (const t of transports) {
    it.skipIf(t.skip !== undefined)(`${t.name}: the callee's SERVER span is a child of the caller's CLIENT span, itself a child of the active span`, async () => {
      const { client, close } = await t.pair(async (_m, req) => req);
      try {
        memory.reset();
        await inSpan('caller', {}, () => client.call('ping', { n: 1 }));
        const spans = await (async () => {
          for (let i = 0; i < 100 && memory.getFinishedSpans().length < 3; i++) await new Promise((r) => setTimeout(r, 20));
          return memory.getFinishedSpans();
        })();
        expect(spans.map(describeSpan).sort()).toEqual(['CLIENT echo/ping', 'INTERNAL caller', 'SERVER echo/ping']);
        const [caller, call, served] = ['INTERNAL caller', 'CLIENT echo/ping', 'SERVER echo/ping'].map((n) => spans.find((s) => describeSpan(s) === n)!);
        expect(new Set(spans.map((s) => s.spanContext().traceId)).size, 'one trace').toBe(1);
        expect(call.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
        expect(served.parentSpanContext?.spanId, `the ${t.name} callee continues the caller's span`).toBe(call.spanContext().spanId);
      } finally {
        await close();
      }
    });
  }
});

describe('the configuration from the environment', () => {
  it('is off when nothing asks for it, or when disabled', () => {
    expect(tracingConfigFromEnv('rag-x', {})).toBeUndefined();
    expect(tracingConfigFromEnv('rag-x', { OTEL_SERVICE_NAME: 'y' })).toBeUndefined();
    expect(tracingConfigFromEnv('rag-x', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracingConfigFromEnv('rag-x', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('reads the endpoint, the service name and the sampler as the SDKs do', () => {
    expect(tracingConfigFromEnv('rag-x', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, 'shard 0/2')).toEqual({
      serviceName: 'rag-x', instance: 'shard 0/2', exporter: 'http://c:4318/v1/traces', sampler: 'parentbased_always_on', ratio: 1,
    });
    const c = tracingConfigFromEnv('rag-x', {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:9999/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
      OTEL_SERVICE_NAME: 'mine', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1',
    });
    expect(c).toMatchObject({ serviceName: 'mine', exporter: 'http://c:9999/traces', sampler: 'parentbased_traceidratio', ratio: 0.1 });
    expect(tracingConfigFromEnv('rag-x', { OTEL_TRACES_EXPORTER: 'console' })?.exporter).toBe('console');
    expect(tracingConfigFromEnv('rag-x', { OTEL_TRACES_EXPORTER: 'otlp' })?.exporter).toBe('http://localhost:4318/v1/traces');
  });

  it('refuses what it cannot do, saying what it expected', () => {
    const bad = (env: Record<string, string>) => () => tracingConfigFromEnv('rag-x', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env });
    expect(bad({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER=sometimes: expected one of always_on/);
    expect(bad({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/ratio must be a number in \[0, 1\]/);
    expect(bad({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTLP over HTTP as JSON only/);
    expect(bad({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/expected otlp, console or none/);
    expect(bad({ OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' })).toThrow(/must be http/);
  });
});
