/**
 * `npm run serve -- --workers 2` as a real process tree on 127.0.0.1: two workers sharing one saved index and one
 * port. Every request below opens its own connection, so the cluster spreads them over both workers; a write is then
 * only correct if it reached, and invalidated the cache of, every worker. No timing is asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine } from '../engine.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { createKey } from './auth.ts';
import { call as callServer, freePort } from './test-process.ts';

let dir: string;
let child: ChildProcess;
let base: string;
let output = '';
/** Writes and GET /metrics need a key: one with every scope, in the server's keys file (access.test.ts tests access). */
let auth: Record<string, string> = {};

/** One request on a fresh connection (no keep-alive), so consecutive calls can land on different workers. */
const call = (method: string, path: string, body?: unknown) => callServer(base, method, path, body, { headers: auth });

async function waitServing(timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${output}`);
    if (output.includes('"msg":"serving"')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server not ready after ${timeoutMs} ms:\n${output}`);
}

const markerHits = async (marker: string, times: number) => {
  const out: string[][] = [];
  for (let i = 0; i < times; i++) {
    const r = await call('POST', '/v1/query', { query: marker, k: 5, mode: 'bm25' });
    expect(r.status).toBe(200);
    out.push(r.json.hits.map((h: { docId: string }) => h.docId));
  }
  return out;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rag-cluster-'));
  const engine = await createEngine({ llm: null });
  await engine.ingest(await loadBrown({ limit: 30 }));
  await engine.save(join(dir, 'idx'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const keysFile = join(dir, 'keys.json');
  auth = { authorization: `Bearer ${createKey(keysFile, 'cluster-test', ['read', 'write', 'admin']).key}` };
  child = spawn(process.execPath, ['--import', 'tsx', 'shared/serve/cli-serve.ts', '--index', join(dir, 'idx'), '--workers', '2', '--port', String(port), '--keys-file', keysFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, REDIS_URL: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitServing(60_000);
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cluster of two workers', () => {
  it('serves queries from both workers and aggregates their metrics', async () => {
    const ready = await call('GET', '/readyz');
    expect(ready.json.status).toBe('ready');
    expect(ready.json.chunks).toBeGreaterThan(30);
    for (let i = 0; i < 12; i++) {
      const r = await call('POST', '/v1/query', { query: `grand jury election ${i}` });
      expect(r.status, r.text).toBe(200);
      expect(r.json.hits.length).toBe(10);
    }
    const metrics = await call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const served = metrics.text.split('\n').filter((l) => l.startsWith('rag_http_request_duration_seconds_count{route="/v1/query"'));
    expect(served.some((l) => l.includes('worker="1"'))).toBe(true);
    expect(served.some((l) => l.includes('worker="2"'))).toBe(true);
  });

  it('acknowledges a write only once every worker answers with it, and no worker serves a stale cached result', async () => {
    const marker = 'zqclustermarkerx';
    const id = 'cluster-test/1';
    // cache the empty answer on both workers first
    for (const hits of await markerHits(marker, 6)) expect(hits).not.toContain(id);
    const ack = await call('POST', '/v1/documents', { documents: [{ id, text: `A note that mentions ${marker} once.` }] });
    expect(ack.status).toBe(200);
    expect(ack.json.version).toBe(1); // the cluster's first write
    for (const hits of await markerHits(marker, 8)) expect(hits[0]).toBe(id);
    const del = await call('DELETE', `/v1/documents/${encodeURIComponent(id)}`);
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ version: 2, removed: 1 });
    for (const hits of await markerHits(marker, 8)) expect(hits).not.toContain(id);
    expect((await call('DELETE', `/v1/documents/${encodeURIComponent(id)}`)).status).toBe(404);
  });

  it('shuts down on SIGTERM with exit code 0', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
