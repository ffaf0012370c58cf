/**
 * A Redis of the run's own for the write half of the fault run: `redis-server` on a free loopback port, no
 * persistence (`--save '' --appendonly no`), in a temporary directory. The fault run kills it (SIGKILL) and starts it
 * again on the same port; the shared Redis on 6379 is never touched.
 *
 *     const redis = await PrivateRedis.start();   // undefined when redis-server is not installed
 *     redis.url                                  // redis://127.0.0.1:41234
 *     await redis.kill(); await redis.restart();
 *     await redis.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Why the Redis fault cannot run here, or undefined when `redis-server` is on the PATH. */
export function redisServerMissing(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? `redis-server not found on the PATH (${r.error?.message ?? `exit ${r.status}`}): the Redis restart fault is skipped` : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** PING over a raw socket until PONG (no client library's reconnect logic in the way). */
async function waitPong(port: number, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      let buf = '';
      c.setTimeout(500, () => (c.destroy(), resolve(false)));
      c.once('error', () => resolve(false));
      c.on('connect', () => c.write('PING\r\n'));
      c.on('data', (d) => {
        buf += d;
        if (buf.includes('PONG')) {
          c.end();
          resolve(true);
        }
      });
    });
    if (ok) return;
    if (performance.now() > until) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class PrivateRedis {
  private child: ChildProcess | undefined;
  private stderr = '';
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(): Promise<PrivateRedis> {
    const dir = await mkdtemp(path.join(tmpdir(), 'rag-t4-09-redis-'));
    const r = new PrivateRedis(await freePort(), dir);
    try {
      await r.restart();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  /** Starts redis-server on the port (again); resolves once it answers PING. */
  async restart(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--protected-mode', 'yes'], {
      cwd: this.dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr!.on('data', (d) => (this.stderr = (this.stderr + d).slice(-2000)));
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, sig) => reject(new Error(`redis-server exited (${code ?? sig}) on port ${this.port}: ${this.stderr}`))));
    exited.catch(() => {});
    await Promise.race([waitPong(this.port, 10_000), exited]);
  }

  /** SIGKILL: every queued job, lock and event stream is gone with it (no persistence). */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
