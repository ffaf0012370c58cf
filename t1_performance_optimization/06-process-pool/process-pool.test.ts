/**
 * Checkpoint for 06-process-pool. `npm run checkpoint -- 06-process-pool` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (one process) and after.ts (the cluster).
 *
 * Every implementation must answer exactly like the in-process reference (`runQuery` over the same index), so the
 * single server and the cluster give the same answer to the same query. The cluster must also serve from every
 * worker, replace a worker that dies while the others keep answering, and shut down gracefully.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildIndex, runQuery, type SearchIndex } from './app.ts';
import { QUERIES } from './data.ts';
import type { ServerHandle, StartOptions } from './after.ts';

interface Mod {
  start(opts?: StartOptions): Promise<ServerHandle>;
}

const DOCS = 40;
const WORKERS = 2;

interface Reply {
  status: number;
  pid: number;
  body: unknown;
}

/** One request on a fresh TCP connection (no keep-alive), so the cluster assigns it to a worker anew. */
function request(url: string, opts: { method?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (data += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, pid: Number(res.headers['x-worker-pid']), body: JSON.parse(data) as unknown }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const queryUrl = (h: ServerHandle, q: string, k = 5) => `${h.url}/query?q=${encodeURIComponent(q)}&k=${k}`;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let reference: SearchIndex;
beforeAll(async () => {
  reference = await buildIndex(DOCS);
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let h: ServerHandle;
  beforeAll(async () => {
    h = await impl.start({ docs: DOCS, workers: WORKERS });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('answers every query exactly like the in-process reference, on GET and POST', async () => {
    for (const q of QUERIES.slice(0, 8)) {
      const want = runQuery(reference, q, 5);
      const get = await request(queryUrl(h, q));
      expect(get.status).toBe(200);
      expect(get.body).toEqual(JSON.parse(JSON.stringify(want)));
      const post = await request(`${h.url}/query`, { method: 'POST', body: JSON.stringify({ q, k: 5 }) });
      expect(post.body).toEqual(get.body);
    }
  });

  it('rejects bad input with a 400 that says what is wrong, and unknown routes with a 404', async () => {
    const empty = await request(`${h.url}/query?q=`);
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual({ error: expect.stringContaining('q must be') });
    expect((await request(queryUrl(h, 'jury', 0))).status).toBe(400);
    expect((await request(`${h.url}/query`, { method: 'POST', body: '{not json' })).status).toBe(400);
    expect((await request(`${h.url}/nope`)).status).toBe(404);
  });

  it('reports the processes that serve requests, and every one of them answers', async () => {
    const pids = await h.workers();
    expect(pids.length).toBe(name === 'before' ? 1 : WORKERS);
    const seen = new Set<number>();
    for (let i = 0; i < 12 && seen.size < pids.length; i++) seen.add((await request(`${h.url}/health`)).pid);
    expect([...seen].sort()).toEqual([...pids].sort());
  });

  it.runIf(name !== 'before')('replaces a killed worker; the other worker keeps answering meanwhile', async () => {
    const pids = await h.workers();
    process.kill(pids[0], 'SIGKILL');
    await waitFor('the primary to notice the dead worker', async () => ((await h.workers()).includes(pids[0]) ? undefined : true));
    for (const q of QUERIES.slice(0, 4)) expect((await request(queryUrl(h, q))).status).toBe(200);
    const now = await waitFor('a replacement worker', async () => {
      const p = await h.workers();
      return p.length === WORKERS ? p : undefined;
    });
    expect(now).not.toContain(pids[0]);
    const r = await request(queryUrl(h, QUERIES[0]));
    expect(r.body).toEqual(JSON.parse(JSON.stringify(runQuery(reference, QUERIES[0], 5))));
  }, 90_000);

  it('shuts down gracefully: in-flight requests finish, the process exits 0, the port closes', async () => {
    const inFlight = Array.from({ length: 4 }, () => request(`${h.url}/sleep?ms=600`));
    await new Promise((r) => setTimeout(r, 150));
    const exit = await h.close();
    const replies = await Promise.all(inFlight);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(exit).toEqual({ code: 0, signal: null });
    await expect(request(`${h.url}/health`)).rejects.toThrow();
  }, 30_000);
});
