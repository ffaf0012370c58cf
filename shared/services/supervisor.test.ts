/**
 * The supervisor with a tiny service (a plain .mjs file written to a temporary folder): the secret reaches the child
 * in its environment and not on its command line; a service that dies is restarted on the same port with growing
 * backoff and the reason logged; a service that never becomes ready is reported, not restarted; stop() ends every
 * child and no restart follows.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Supervisor, TASKSET } from './supervisor.ts';

let dir: string;
let script: string;
const sups: Supervisor[] = [];

/**
 * The fixture: counts its starts in $COUNTER; starts listed in $CRASH_ON (comma-separated) print "boom N" to stderr
 * and exit 3; the others serve /readyz, /secret-seen and /argv on 127.0.0.1 (--port), and report `listening`.
 */
const FIXTURE = `
import http from 'node:http';
import fs from 'node:fs';
const file = process.env.COUNTER;
const n = (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : 0) + 1;
fs.writeFileSync(file, String(n));
if ((process.env.CRASH_ON || '').split(',').includes(String(n))) { process.stderr.write('boom ' + n + '\\n'); process.exit(3); }
const port = Number(process.argv[process.argv.indexOf('--port') + 1] || 0);
const server = http.createServer((req, res) => {
  if (req.url === '/readyz') return res.end('ok');
  if (req.url === '/secret-seen') return res.end(String((process.env.RAG_INTERNAL_TOKEN || '').length));
  if (req.url === '/argv') return res.end(JSON.stringify(process.argv));
  res.statusCode = 404; res.end();
});
server.listen(port, '127.0.0.1', () => process.send({ type: 'listening', url: 'http://127.0.0.1:' + server.address().port }));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'supervisor-test-'));
  script = join(dir, 'svc.mjs');
  await writeFile(script, FIXTURE);
});

afterAll(async () => {
  await Promise.all(sups.map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

function supervisor(log: string[]): Supervisor {
  const s = new Supervisor({ log: (l) => log.push(l), readyTimeoutMs: 20_000 });
  sups.push(s);
  return s;
}

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Supervisor', () => {
  it('hands the secret over in the environment, never on the command line', async () => {
    const log: string[] = [];
    const sup = supervisor(log);
    const svc = await sup.start({ name: 'a', script, env: { COUNTER: join(dir, 'a.count') } });
    expect(await (await fetch(`${svc.url}/secret-seen`)).text()).toBe(String(sup.secret.length));
    const argv = await (await fetch(`${svc.url}/argv`)).text();
    expect(argv).not.toContain(sup.secret);
    expect(sup.secret).toMatch(/^[0-9a-f]{64}$/);
    await sup.stop();
  });

  it('restarts a service that dies, on the same port, with doubling backoff and the reason logged', async () => {
    const log: string[] = [];
    const sup = supervisor(log);
    const counter = join(dir, 'b.count');
    // start 1 serves; starts 2 and 3 crash; start 4 serves again
    const svc = await sup.start({ name: 'b', script, env: { COUNTER: counter, CRASH_ON: '2,3' } });
    const { url, pid } = svc;
    process.kill(pid!, 'SIGKILL');
    await until(() => svc.restarts === 3 && svc.state === 'ready');
    expect(svc.url).toBe(url);
    expect(svc.pid).not.toBe(pid);
    expect(await readFile(counter, 'utf8')).toBe('4');
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const exits = log.filter((l) => /^b exited/.test(l));
    expect(exits[0]).toMatch(/b exited \(signal SIGKILL\) after .* s; restart 1 in 100 ms on port \d+/);
    expect(exits[1]).toMatch(/b exited \(code 3\) .*\("boom 2"\); restart 2 in 200 ms/);
    expect(exits[2]).toMatch(/b exited \(code 3\) .*\("boom 3"\); restart 3 in 400 ms/);
    await sup.stop();
  });

  it('reports a service that never becomes ready, and does not restart it', async () => {
    const log: string[] = [];
    const sup = supervisor(log);
    await expect(sup.start({ name: 'c', script, env: { COUNTER: join(dir, 'c.count'), CRASH_ON: '1,2,3' } })).rejects.toThrow(/c exited \(code 3\) before it listened: boom 1/);
    await new Promise((r) => setTimeout(r, 300));
    expect(await readFile(join(dir, 'c.count'), 'utf8')).toBe('1');
    expect(log.join('\n')).toMatch(/before it was ever ready; not restarted/);
  });

  it('stop() ends every child, and nothing is restarted after', async () => {
    const log: string[] = [];
    const sup = supervisor(log);
    const svcs = await Promise.all(['d', 'e', 'f'].map((name) => sup.start({ name, script, env: { COUNTER: join(dir, `${name}.count`) } })));
    const pids = svcs.map((s) => s.pid);
    await sup.stop();
    expect(pids.filter(alive)).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(svcs.map((s) => s.state)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(log.filter((l) => /restart/.test(l))).toEqual([]);
  });
  it.skipIf(!existsSync(TASKSET) || !existsSync('/proc/self/status'))('pins a service to its CPUs (cpus: taskset -c), the same process keeps its IPC channel and pid', async () => {
    const log: string[] = [];
    const sup = supervisor(log);
    const svc = await sup.start({ name: 'g', script, cpus: '0', env: { COUNTER: join(dir, 'g.count') } });
    const status = await readFile(`/proc/${svc.pid}/status`, 'utf8');
    expect(/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1], 'the child is not pinned to CPU 0').toBe('0');
    expect(await (await fetch(`${svc.url}/readyz`)).text()).toBe('ok');
    const argv = JSON.parse(await (await fetch(`${svc.url}/argv`)).text()) as string[];
    expect(argv[0]).toBe(process.execPath);
    await sup.stop();
    expect(alive(svc.pid)).toBe(false);
  });
});
