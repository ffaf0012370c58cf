/**
 * HAProxy (Debian's haproxy 2.6) as the real front for this lesson's bench: a generated config in a temporary
 * folder, one frontend per backend on a free loopback port, HTTP mode, `balance leastconn` (least outstanding, the
 * gateway's rule), health checks on `/readyz`. One thread, so its CPU per query is comparable with one gateway's.
 * `haproxyPath()` is undefined when it is not installed: the bench then skips its HAProxy rows and says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function haproxyPath(): string | undefined {
  for (const p of [process.env.HAPROXY, '/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy']) if (p && existsSync(p)) return p;
  return undefined;
}

/** A free port on 127.0.0.1: bound on port 0, read, released (HAProxy binds it a moment later). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Haproxy {
  /** The frontend URL of each backend, by name. */
  urls: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

/** Starts HAProxy with one frontend per `backends` entry (name → server URLs); resolves once every frontend answers. */
export async function startHaproxy(backends: Record<string, string[]>, bin = haproxyPath()): Promise<Haproxy> {
  if (!bin) throw new Error('haproxy is not installed (apt-get install haproxy)');
  const dir = await mkdtemp(join(tmpdir(), 't4-05-haproxy-'));
  const urls: Record<string, string> = {};
  let cfg = `global\n  nbthread 1\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n\n`;
  for (const [name, servers] of Object.entries(backends)) {
    const port = await freePort();
    urls[name] = `http://127.0.0.1:${port}`;
    cfg += `frontend f_${name}\n  bind 127.0.0.1:${port}\n  default_backend b_${name}\n\n`;
    cfg += `backend b_${name}\n  balance leastconn\n  option httpchk GET /readyz\n`;
    servers.forEach((u, i) => (cfg += `  server s${i} ${new URL(u).host} check inter 500ms\n`));
    cfg += '\n';
  }
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, cfg);
  const child: ChildProcess = spawn(bin, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const until = Date.now() + 10_000;
    for (const url of Object.values(urls)) {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr.trim().split('\n').pop()}`);
        const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => (r.body?.cancel(), r.status === 200), () => false);
        if (ok) break;
        if (Date.now() > until) throw new Error(`haproxy's ${url} did not answer /readyz 200 within 10 s: ${stderr.trim().split('\n').pop() ?? ''}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls, pid: child.pid!, stop };
}
