/**
 * A real Prometheus (/usr/bin/prometheus) scrapes the split's services on loopback for a few seconds: the gateway,
 * the embedder and two shards (started in this process, with a service credential), found through the file_sd
 * files `npm run t4:up -- --prometheus-sd` writes (prom-sd.ts), authenticated with `authorization.credentials_file`,
 * with deploy/prometheus's rule files. Checks every target is up (so the Bearer credential works and a scrape without
 * it would not), and that a recording rule over the services' own series has a value.
 *
 * About 15-20 s on 2 shared cores, so it runs only when asked: `RAG_PROM_SCRAPE=1 npx vitest run
 * shared/observe/prometheus-scrape.test.ts` (and needs /usr/bin/prometheus: apt-get install prometheus).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSplitIndex } from '../services/cli-up.ts';
import { startEmbedderService } from '../services/embedder-service.ts';
import { startGateway } from '../services/gateway.ts';
import type { HttpRpcServer } from '../services/http-rpc.ts';
import { startShardService } from '../services/shard-service.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { writePrometheusSd } from './prom-sd.ts';
import { freePort } from '../serve/test-process.ts';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const ASKED = process.env.RAG_PROM_SCRAPE === '1';
const HAS = ASKED && existsSync(PROMETHEUS);
if (!ASKED) console.warn('skipping the real-Prometheus scrape test (~20 s): set RAG_PROM_SCRAPE=1 to run it');
else if (!HAS) console.warn(`prometheus not found at ${PROMETHEUS}: apt-get install prometheus (or set PROMETHEUS_BIN) to run the scrape test`);


describe.skipIf(!HAS)('Prometheus scrapes the split services (deploy/prometheus/prometheus.yml)', () => {
  const secret = 'test-secret-' + process.pid;
  const servers: HttpRpcServer[] = [];
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let dir = '';
  let promLog = '';
  let load: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    const index = await ensureSplitIndex();
    const [embedder, s0, s1] = await Promise.all([
      startEmbedderService({ index, secret }),
      startShardService({ index, shard: 0, shards: 2, secret }),
      startShardService({ index, shard: 1, shards: 2, secret }),
    ]);
    servers.push(embedder, s0, s1);
    gateway = await startGateway({ shardUrls: [s0.url, s1.url], embedderUrl: embedder.url, secret, server: { auth: false } }, 0);
    dir = mkdtempSync(path.join(os.tmpdir(), 'rag-prom-scrape-'));
    const sd = path.join(dir, 'sd');
    writePrometheusSd(sd, [
      { job: 'gateway', url: gateway.url },
      { job: 'embedder', url: embedder.url },
      { job: 'shard', url: s0.url, labels: { shard: '0' } },
      { job: 'shard', url: s1.url, labels: { shard: '1' } },
    ], secret);
    mkdirSync(path.join(dir, 'rules'));
    for (const f of ['recording.yml', 'alerts.yml']) copyFileSync(path.join(REPO_ROOT, 'deploy/prometheus/rules', f), path.join(dir, 'rules', f));
    const port = await freePort();
    const config = readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')
      .replaceAll('../../.cache/prom-sd', sd)
      .replace('scrape_interval: 5s', 'scrape_interval: 1s')
      .replace('evaluation_interval: 15s', 'evaluation_interval: 1s')
      .replace('127.0.0.1:9090', `127.0.0.1:${port}`);
    writeFileSync(path.join(dir, 'prometheus.yml'), config);
    prom = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${path.join(dir, 'data')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    prom.stderr!.on('data', (c: Buffer) => (promLog = (promLog + c.toString()).slice(-4000)));
    promUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // a query every 100 ms while the test runs: rates need the counters to move between scrapes
    const url = gateway.url;
    let i = 0;
    load = setInterval(() => {
      void fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `the jury said ${i++}` }) }).catch(() => {});
    }, 100);
  }, 60_000);

  afterAll(async () => {
    clearInterval(load);
    prom?.kill('SIGTERM');
    if (prom && prom.exitCode === null) await new Promise((r) => prom!.once('exit', r));
    await gateway?.close();
    await Promise.all(servers.map((s) => s.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    return body.data.result;
  }

  async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms. Prometheus said:\n${promLog}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('scrapes every service with the Bearer credential (all targets up)', async () => {
    const up = await until('4 targets up', async () => {
      const r = await query('up{job=~"gateway|shard|embedder"}');
      return r.length === 4 && r.every((x) => x.value[1] === '1') ? r : undefined;
    });
    expect(up.map((x) => x.metric.job).sort()).toEqual(['embedder', 'gateway', 'shard', 'shard']);
    const text = await fetch(`${gateway!.url}/metrics`);
    expect(text.status, 'GET /metrics without the credential').toBe(401);
  });

  it('evaluates the recording rules over the services\' series (QPS and p99 by service)', async () => {
    const qps = await until('service:rag_requests:rate5m for the gateway', async () => {
      const r = await query('service:rag_requests:rate5m{service="gateway"}');
      return r.length === 1 && Number(r[0].value[1]) > 0 ? r : undefined;
    });
    expect(Number(qps[0].value[1])).toBeGreaterThan(0);
    const services = await until('p99 for gateway, embedder and shard', async () => {
      const r = await query('service:rag_request_latency_seconds:p99_rate5m');
      const s = new Set(r.filter((x) => Number.isFinite(Number(x.value[1]))).map((x) => x.metric.service));
      return ['gateway', 'embedder', 'shard'].every((x) => s.has(x)) ? s : undefined;
    });
    expect([...services].sort()).toEqual(['embedder', 'gateway', 'shard']);
  });
});
