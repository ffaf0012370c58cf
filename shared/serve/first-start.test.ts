/**
 * The quick start with keys, as real processes: `npm run serve` with no keys file creates one holding only the hash
 * of a new admin key and prints that key once; the key works; a restart prints nothing and keeps it. `--auth off`
 * opens everything but is refused beyond loopback. `npm run keys` creates, lists and revokes keys.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine } from '../engine.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { call, ServeProcess } from './test-process.ts';

const run = promisify(execFile);
let dir: string;
const started: ServeProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rag-first-start-'));
  const engine = await createEngine({ llm: null });
  await engine.ingest(await loadBrown({ limit: 10 }));
  await engine.save(join(dir, 'idx'));
}, 120_000);

afterAll(async () => {
  for (const s of started) await s.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function serve(args: string[], env: Record<string, string> = {}): ServeProcess {
  const s = new ServeProcess(['--index', join(dir, 'idx'), ...args], { AUTH: 'on', DATA_DIR: join(dir, `data-${started.length}`), ...env });
  started.push(s);
  return s;
}

async function keyed(base: string, method: string, path: string, key: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, text: await res.text() };
}

describe('first start', () => {
  it('creates the keys file with one hashed admin key, prints the key once, and a restart keeps it', async () => {
    const keysFile = join(dir, 'first', 'keys.json');
    const first = serve(['--keys-file', keysFile]);
    await first.start();
    await first.waitServing();
    const printed = first.output.match(/rag_[A-Za-z0-9_-]{43}/g) ?? [];
    expect(printed).toHaveLength(1);
    const key = printed[0]!;
    expect(first.output).toContain(`Only its SHA-256 is stored, in ${keysFile}`);

    const text = await readFile(keysFile, 'utf8');
    expect(text).not.toContain(key);
    const stored = JSON.parse(text);
    expect(stored.keys).toHaveLength(1);
    expect(stored.keys[0].scopes).toEqual(['read', 'write', 'admin']);
    expect(stored.keys[0].hash).toBe(`sha256:${createHash('sha256').update(key).digest('hex')}`);
    expect((await stat(keysFile)).mode & 0o777).toBe(0o600);

    expect((await first.call('POST', '/v1/documents', { documents: [{ id: 'fs/1', text: 'first start' }] })).status).toBe(401);
    expect((await keyed(first.base, 'POST', '/v1/documents', key, { documents: [{ id: 'fs/1', text: 'first start' }] })).status).toBe(200);
    expect((await keyed(first.base, 'GET', '/metrics', key)).status).toBe(200);
    await first.stop();

    const second = serve(['--keys-file', keysFile], { DATA_DIR: first.env.DATA_DIR });
    await second.start();
    await second.waitServing();
    expect(second.output).not.toMatch(/rag_[A-Za-z0-9_-]{43}/);
    expect(second.output).not.toContain('No API keys yet');
    expect((await keyed(second.base, 'GET', '/v1/whoami', key)).status).toBe(200);
    expect(JSON.parse(await readFile(keysFile, 'utf8')).keys).toHaveLength(1);
    await second.stop();
  }, 240_000);

  it('refuses --auth off beyond loopback, and on loopback opens writes with a warning', async () => {
    const wide = serve(['--auth', 'off', '--host', '0.0.0.0']);
    await wide.start();
    expect(await wide.exit).toBe(2);
    expect(wide.output).toContain('refused with --host 0.0.0.0');

    const open = serve(['--auth', 'off', '--keys-file', join(dir, 'never', 'keys.json')]);
    await open.start();
    await open.waitServing();
    expect(open.output).toContain('authentication is off');
    expect((await open.call('POST', '/v1/documents', { documents: [{ id: 'open/1', text: 'open' }] })).status).toBe(200);
    await expect(stat(join(dir, 'never', 'keys.json'))).rejects.toThrow();
    await open.stop();
  }, 240_000);

  it('fails to start with a keys file that is not one, naming it', async () => {
    const bad = join(dir, 'bad-keys.json');
    await writeFile(bad, '{"version": 1, "keys": [{"id": "k", "name": "n", "scopes": ["root"], "hash": "x"}]}');
    const s = serve(['--keys-file', bad]);
    await s.start();
    expect(await s.exit).toBe(2);
    expect(s.output).toContain(bad);
  }, 120_000);
});

describe('npm run keys', () => {
  const keys = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'shared/serve/cli-keys.ts', ...args], { cwd: REPO_ROOT });

  it('creates, lists and revokes keys; a running server follows the file', async () => {
    const file = join(dir, 'cli', 'keys.json');
    const admin = JSON.parse((await keys('create', '--scope', 'admin,write', '--name', 'ops', '--keys-file', file, '--json')).stdout);
    expect(admin).toMatchObject({ name: 'ops', scopes: ['write', 'admin'] });
    expect(admin.key).toMatch(/^rag_/);
    const made = await keys('create', '--scope', 'write', '--name', 'bot', '--keys-file', file);
    const bot = made.stdout.match(/rag_[A-Za-z0-9_-]{43}/)![0];
    const list = (await keys('list', '--keys-file', file)).stdout;
    expect(list).toContain('2 keys');
    expect(list).toMatch(/k_[0-9a-f]{8} +write,admin .* ops/);
    expect(list).not.toContain(bot);

    const s = serve(['--keys-file', file]);
    await s.start();
    await s.waitServing();
    expect((await keyed(s.base, 'POST', '/v1/documents', bot, { documents: [{ id: 'cli/1', text: 'bot' }] })).status).toBe(200);
    expect((await keys('revoke', 'bot', '--keys-file', file)).stdout).toContain('revoked');
    const until = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < until && (status = (await keyed(s.base, 'POST', '/v1/documents', bot, { documents: [{ id: 'cli/2', text: 'bot' }] })).status) !== 401) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(401);
    expect((await call(s.base, 'GET', '/readyz')).status).toBe(200);
    await s.stop();

    await expect(keys('revoke', 'bot', '--keys-file', file)).rejects.toMatchObject({ code: 2 });
    await expect(keys('create', '--scope', 'root', '--keys-file', file)).rejects.toMatchObject({ code: 2 });
  }, 240_000);
});
