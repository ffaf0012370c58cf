/**
 * GET /metrics of an internal service (http-rpc.ts with service-metrics.ts): the credential as a Bearer token (what
 * Prometheus' credentials_file sends) or as x-internal-token; 401 without it; requests timed by route and status,
 * with unknown methods folded into one label value; rag_ready follows /readyz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHttpRpc, type HttpRpcServer } from '../services/http-rpc.ts';
import { RpcError } from '../services/rpc.ts';
import { fileSdGroups } from './prom-sd.ts';
import { createServiceMetrics, metricsAuthorized, mirrorCounter } from './service-metrics.ts';

describe('GET /metrics on an internal service', () => {
  const secret = 's3cret';
  let server: HttpRpcServer;
  beforeAll(async () => {
    const metrics = createServiceMetrics('shard', { labels: { shard: '0' }, defaults: false });
    server = await serveHttpRpc(
      async (method) => {
        if (method !== 'search') throw new RpcError('NOT_FOUND', `no method ${method}`);
        return { hits: [] };
      },
      { secret, metrics: metrics.http },
    );
  });
  afterAll(() => server.close());

  const scrape = (headers: Record<string, string> = {}) => fetch(`${server.url}/metrics`, { headers });
  const call = (method: string) => fetch(`${server.url}/rpc/${method}`, { method: 'POST', headers: { 'x-internal-token': secret, 'content-type': 'application/json' }, body: '{}' });

  it('refuses a scrape without the credential, serves one with it as Bearer or x-internal-token', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape({ authorization: 'Bearer wrong' })).status).toBe(401);
    const ok = await scrape({ authorization: `Bearer ${secret}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/text\/plain/);
    expect((await scrape({ 'x-internal-token': secret })).status).toBe(200);
  });

  it('times calls by route and status; unknown methods share one label value', async () => {
    await call('search');
    await call('search');
    for (let i = 0; i < 5; i++) await call(`nope-${i}`);
    const text = await (await scrape({ authorization: `Bearer ${secret}` })).text();
    expect(text).toMatch(/rag_http_request_duration_seconds_count\{service="shard",shard="0",route="\/rpc\/search",method="POST",status="200"\} 2/);
    expect(text).toMatch(/rag_http_request_duration_seconds_count\{[^}]*route="unmatched"[^}]*status="404"\} 5/);
    expect(text).not.toMatch(/nope-/);
    expect(text).toMatch(/rag_http_request_duration_seconds_bucket\{[^}]*le="0.2"/);
  });

  it('rag_ready says what /readyz says', async () => {
    const ready = async () => /rag_ready\{[^}]*\} (\d)/.exec(await (await scrape({ authorization: `Bearer ${secret}` })).text())?.[1];
    expect(await ready()).toBe('1');
    server.notReady();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    expect(await ready()).toBe('0');
  });
});

describe('helpers', () => {
  it('metricsAuthorized: open without a secret, constant-time compare with one', () => {
    expect(metricsAuthorized({}, undefined)).toBe(true);
    expect(metricsAuthorized({ authorization: 'Bearer abc' }, 'abc')).toBe(true);
    expect(metricsAuthorized({ authorization: 'Bearer abcd' }, 'abc')).toBe(false);
    expect(metricsAuthorized({ authorization: 'Basic abc' }, 'abc')).toBe(false);
  });

  it('mirrorCounter adds only what a running total grew by', async () => {
    const m = createServiceMetrics('gateway', { defaults: false });
    let total = 0;
    const sync = mirrorCounter(m.gateway!.shed, { reason: 'in_flight' }, () => total);
    total = 3;
    sync();
    sync();
    total = 5;
    sync();
    expect((await m.gateway!.shed.get()).values[0].value).toBe(5);
  });

  it('fileSdGroups: one group per target, host:port and labels, every job present', () => {
    const g = fileSdGroups([
      { job: 'gateway', url: 'http://127.0.0.1:8080' },
      { job: 'shard', url: 'http://127.0.0.1:4001', labels: { shard: '0' } },
    ]);
    expect(g.gateway).toEqual([{ targets: ['127.0.0.1:8080'], labels: {} }]);
    expect(g.shard).toEqual([{ targets: ['127.0.0.1:4001'], labels: { shard: '0' } }]);
    expect(g.embedder).toEqual([]);
    expect(g.ingest).toEqual([]);
  });
});
