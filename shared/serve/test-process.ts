/**
 * Test helpers for `npm run serve` as a real process tree: start it on a free loopback port, wait for a log line,
 * call it (each request on its own connection unless an agent is given), and kill the whole tree with SIGKILL.
 * Used by durability.test.ts; Linux only for the tree (it reads /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request, type Agent } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../util/paths.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  json: any;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** The environment every test server gets: no Redis, no keys or rate limits (loopback only), warn-level logs. */
export const TEST_ENV = { REDIS_URL: '', LOG_LEVEL: 'warn', AUTH: 'off', READ_RATE_LIMIT: '0', WRITE_RATE_LIMIT: '0' };

export class ServeProcess {
  child!: ChildProcess;
  output = '';
  base = '';
  exit: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly args: string[],
    readonly env: Record<string, string> = {},
  ) {}

  async start(port?: number): Promise<this> {
    port ??= await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.output = '';
    this.child = spawn(process.execPath, ['--import', 'tsx', 'shared/serve/cli-serve.ts', ...this.args, '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...TEST_ENV, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    this.exit = new Promise((r) => this.child.once('exit', (code) => r(code)));
    return this;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Until the output matches (checked every 100 ms); throws with the output if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (!this.running) throw new Error(`server exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${pattern} after ${timeoutMs} ms:\n${this.output}`);
  }

  waitServing(timeoutMs = 90_000) {
    return this.waitFor(/"msg":"serving"/, timeoutMs);
  }

  /** Log lines (pino JSON) whose msg matches. */
  logLines(msg: RegExp): Array<Record<string, any>> {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, any>;
        } catch {
          return {};
        }
      })
      .filter((o) => typeof o.msg === 'string' && msg.test(o.msg));
  }

  call(method: string, path: string, body?: unknown, opts: { timeoutMs?: number; agent?: Agent } = {}): Promise<Reply> {
    return call(this.base, method, path, body, opts);
  }

  /** SIGKILL to the whole tree (primary and every worker at once), then waits for the primary to be gone. */
  async killTree(): Promise<void> {
    if (!this.child?.pid) return;
    const pids = [this.child.pid, ...descendants(this.child.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exit;
  }

  /** Ends the process if it still runs (SIGKILL to the tree): for afterAll, whatever happened. */
  async stop(): Promise<void> {
    if (this.running) await this.killTree();
  }
}

/** One request, on a fresh connection unless an agent is given. Rejects on a connection error or timeout. */
export function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; agent?: Agent; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${base}${path}`,
      {
        method,
        agent: opts.agent ?? false,
        headers: { ...opts.headers, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(Object.assign(new Error('timeout: no answer'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every process below `pid` (children, grandchildren …), from /proc. */
export function descendants(pid: number): number[] {
  if (!existsSync('/proc')) return [];
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(join('/proc', name, 'stat'), 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}
