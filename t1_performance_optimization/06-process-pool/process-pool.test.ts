/**
 * Checkpoint for 06-process-pool. `npm run checkpoint -- 06-process-pool` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (one process) and after.ts (the cluster).
 *
 * Every implementation must answer exactly like the in-process reference (`runQuery` over the same index), so the
 * single server and the cluster give the same answer to the same query. The cluster must also serve from every
 * worker, replace a worker that dies while the others keep answering, and shut down gracefully. Processes are
 * counted (the pids that answer, and the worker processes on /proc), never timed.
 */
import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
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
const REQUEST_TIMEOUT_MS = 15_000;

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
    // a cluster primary with no worker left accepts connections and holds them: give up instead of hanging
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
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

/**
 * The worker processes of a server started from `file`, counted from /proc (Linux): every live process whose command
 * line runs that file, except the one started by the test (the primary, or the single server itself). A worker that
 * was killed and not yet reaped is a zombie with an empty command line, so it does not count. Undefined without /proc.
 */
function workerProcesses(file: string, primary: number): number[] | undefined {
  if (!fs.existsSync('/proc/self/cmdline')) return undefined;
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === primary || Number(entry) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(file)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

let reference: SearchIndex;
beforeAll(async () => {
  reference = await buildIndex(DOCS);
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  /** The processes that should serve: 1 for the single server, WORKERS for a pool. */
  const want = name === 'before' ? 1 : WORKERS;
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

  it(`serves from ${WORKERS} processes (1 for the single server), and every one of them answers`, async () => {
    const pids = await h.workers();
    expect(
      pids.length,
      `${plural(pids.length, 'process answers', 'processes answer')} requests, want ${want}: ` +
        `one process is one JavaScript thread, so the other cores stay idle`,
    ).toBe(want);
    const seen = new Set<number>();
    for (let i = 0; i < 12 && seen.size < pids.length; i++) seen.add((await request(`${h.url}/health`)).pid);
    expect([...seen].sort()).toEqual([...pids].sort());
  });

  // Supervision, counted: worker processes on /proc and the pids that answer. The single server has no one to
  // replace it (that is its weakness), so it is exempt.
  it.runIf(name !== 'before')('replaces a killed worker with exactly one new one; the others keep answering meanwhile', async () => {
    const pids = await h.workers();
    const victim = pids[0];
    process.kill(victim, 'SIGKILL');
    await waitFor('the primary to notice the dead worker', async () => ((await h.workers()).includes(victim) ? undefined : true));
    // A replacement is forked when the primary learns of the death (it may wait a little first): count the
    // processes, whether or not the new one is listening yet.
    const count = async () => workerProcesses(file, h.pid)?.length ?? (await h.workers()).length;
    const forked = await waitFor('a replacement process', async () => ((await count()) >= WORKERS ? count() : undefined), 15_000).catch(count);
    const left =
      forked === 0
        ? 'no worker process left: nothing answers any more'
        : `${plural(forked, 'worker process', 'worker processes')} left, want ${WORKERS}: the service runs on fewer cores, ` +
          `and after ${plural(forked, 'more crash', 'more crashes')} on none`;
    expect(forked, `worker ${victim} died and the primary forked no replacement within 15 s: ${left}`).toBeGreaterThanOrEqual(WORKERS);
    // meanwhile (the replacement is still starting) the others answer
    for (const q of QUERIES.slice(0, 4)) expect((await request(queryUrl(h, q))).status).toBe(200);
    const now = await waitFor('the replacement to listen', async () => {
      const p = await h.workers();
      return p.length === WORKERS ? p : undefined;
    });
    expect(now).not.toContain(victim);
    const total = await count();
    expect(total, `${plural(total, 'worker process', 'worker processes')} after one died and was replaced, want ${WORKERS}`).toBe(WORKERS);
    const r = await request(queryUrl(h, QUERIES[0]));
    expect(r.body).toEqual(JSON.parse(JSON.stringify(runQuery(reference, QUERIES[0], 5))));
  }, 120_000);

  it('shuts down gracefully: in-flight requests finish, every worker exits before the primary, which exits 0', async () => {
    const SLEEP_MS = 2_000;
    const inFlight = Array.from({ length: 4 }, () =>
      request(`${h.url}/sleep?ms=${SLEEP_MS}`).then(
        (r) => String(r.status),
        (err: Error) => `cut off (${err.message})`,
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const workers = workerProcesses(file, h.pid);
    const exit = await h.close();
    // Right as the primary exits (nothing awaited in between): is any of its processes still running?
    const left = workerProcesses(file, h.pid);
    if (left && left.length > 0) {
      for (const pid of left) process.kill(pid, 'SIGKILL'); // no stray processes after the checkpoint
      const n = plural(left.length, 'worker process was', 'worker processes were');
      expect.fail(
        `the primary exited while ${n} still running (pids ${left.join(', ')}; ${workers?.length ?? '?'} before the ` +
          `shutdown): whoever started the service now thinks it has stopped, and may start the next version on the ` +
          `same port or kill what is left; the primary exits only after its workers have`,
      );
    }
    expect(exit, `the primary exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}, want code 0`).toEqual({ code: 0, signal: null });
    const replies = await Promise.all(inFlight);
    const cut = replies.filter((r) => r !== '200');
    expect(cut, `${cut.length} of ${replies.length} in-flight requests did not finish: ${cut.join('; ')}`).toEqual([]);
    await expect(request(`${h.url}/health`)).rejects.toThrow();
  }, 30_000);
});
