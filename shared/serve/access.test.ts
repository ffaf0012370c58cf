/**
 * Keys, scopes, rate limits, the id rule, prototype-pollution keys and slow senders, against real servers on
 * 127.0.0.1 (port 0) with a small engine (10 Brown documents). Behaviour only: status codes, headers, messages, and
 * that a refused request changed nothing (the index version did not move). Nothing is timed except "eventually"
 * with generous deadlines.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine, type Engine } from '../engine.ts';
import { createServer, type RagServer, type ServerOptions } from './app.ts';
import { createKey, ensureKeysFile, generateKey, hashKey, KeyStore, readKeys, revokeKey } from './auth.ts';

const ALL = generateKey('all', ['read', 'write', 'admin']);
const WRITER = generateKey('writer', ['write']);
const READER = generateKey('reader', ['read']);
const ADMIN = generateKey('admin', ['admin']);
const KEYS = [ALL.record, WRITER.record, READER.record, ADMIN.record];

let docs: Awaited<ReturnType<typeof loadBrown>>;
const servers: RagServer[] = [];
const dirs: string[] = [];

async function engine(): Promise<Engine> {
  const e = await createEngine({ llm: null });
  await e.ingest(docs);
  return e;
}

async function start(opts: ServerOptions = {}): Promise<{ server: RagServer; url: string }> {
  const server = await createServer({ engine: await engine(), maxEventLoopDelayMs: 0, auth: { keys: KEYS }, ...opts });
  servers.push(server);
  return { server, url: await server.listen(0, '127.0.0.1') };
}

interface Answer {
  status: number;
  headers: Headers;
  json: any;
}

async function call(url: string, method: string, path: string, opts: { key?: string; body?: unknown; raw?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const hasBody = opts.body !== undefined || opts.raw !== undefined;
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
      ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
      ...opts.headers,
    },
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

const ingest = (url: string, documents: unknown[], key?: string) => call(url, 'POST', '/v1/documents', { key, body: { documents } });
const doc = (id: string, text = `A note about okapis, number ${id}.`) => ({ id, text });

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not true within ${timeoutMs} ms`);
}

beforeAll(async () => {
  docs = await loadBrown({ limit: 10 });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('keys and scopes', () => {
  let url: string;
  let server: RagServer;
  beforeAll(async () => {
    ({ url, server } = await start());
  });

  it('answers 401 with WWW-Authenticate to anonymous writes and deletes, and changes nothing', async () => {
    for (const r of [
      await ingest(url, [doc('anon/1')]),
      await call(url, 'DELETE', '/v1/documents/brown%2Fca01'),
      await call(url, 'DELETE', '/v1/documents', { body: { ids: ['brown/ca01'] } }),
    ]) {
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="rag"');
      expect(r.json).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      expect(r.json.message).toContain('write scope');
    }
    expect(server.version).toBe(0);
    expect(server.engine!.stats().documents).toBe(10);
  });

  it.each([
    ['an unknown key', `Bearer rag_${'x'.repeat(43)}`, 'unknown or revoked'],
    ['another scheme', `Basic ${Buffer.from('a:b').toString('base64')}`, 'must be "Bearer <key>"'],
    ['no token', 'Bearer', 'must be "Bearer <key>"'],
    ['two tokens', 'Bearer a b', 'must be "Bearer <key>"'],
    ['a huge token', `Bearer ${'a'.repeat(5000)}`, 'must be "Bearer <key>"'],
  ])('answers 401 invalid_token to %s', async (_what, header, message) => {
    const r = await call(url, 'POST', '/v1/documents', { body: { documents: [doc('bad/1')] }, headers: { authorization: header } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="rag", error="invalid_token"');
    expect(r.json.message).toContain(message);
  });

  it('answers 403 insufficient_scope to a key without the route scope', async () => {
    const w = await ingest(url, [doc('scope/1')], READER.key);
    expect(w.status).toBe(403);
    expect(w.headers.get('www-authenticate')).toBe('Bearer realm="rag", error="insufficient_scope", scope="write"');
    expect(w.json.message).toContain('"reader" lacks the write scope');
    const m = await call(url, 'GET', '/metrics', { key: WRITER.key });
    expect(m.status).toBe(403);
    expect(m.headers.get('www-authenticate')).toContain('scope="admin"');
    expect(server.version).toBe(0);
  });

  it('accepts the right scope: write for writes, admin for /metrics', async () => {
    const w = await ingest(url, [doc('scope/2')], WRITER.key);
    expect(w.status).toBe(200);
    expect(w.json.version).toBe(1);
    const d = await call(url, 'DELETE', `/v1/documents/${encodeURIComponent('scope/2')}`, { key: WRITER.key });
    expect(d.status).toBe(200);
    expect((await call(url, 'GET', '/metrics')).status).toBe(401);
    const m = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN.key}` } });
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('rag_index_version');
  });

  it('keeps reads, health and the API description open; a presented key must be valid but needs no scope', async () => {
    expect((await call(url, 'POST', '/v1/query', { body: { query: 'jury' } })).status).toBe(200);
    expect((await call(url, 'POST', '/v1/query', { body: { query: 'jury' }, key: WRITER.key })).status).toBe(200);
    const bad = await call(url, 'POST', '/v1/query', { body: { query: 'jury' }, key: 'rag_not_a_key' });
    expect(bad.status).toBe(401);
    for (const path of ['/healthz', '/readyz', '/openapi.json']) expect((await call(url, 'GET', path)).status).toBe(200);
  });

  it('tells a key who it is on GET /v1/whoami, never the key or its hash', async () => {
    const r = await call(url, 'GET', '/v1/whoami', { key: WRITER.key });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ id: WRITER.record.id, name: 'writer', scopes: ['write'] });
    expect((await call(url, 'GET', '/v1/whoami')).status).toBe(401);
  });

  it('documents the bearer scheme in the OpenAPI description', async () => {
    const api = (await call(url, 'GET', '/openapi.json')).json;
    expect(api.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(api.paths['/v1/documents'].post.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(api.paths)).toEqual(expect.arrayContaining(['/v1/documents/{id}', '/v1/whoami']));
  });

  it('keys reads when asked: anonymous 401, no read scope 403, read scope 200', async () => {
    const { url: keyed } = await start({ auth: { keys: KEYS, readAccess: 'key' } });
    expect((await call(keyed, 'POST', '/v1/query', { body: { query: 'jury' } })).status).toBe(401);
    expect((await call(keyed, 'POST', '/v1/query', { body: { query: 'jury' }, key: WRITER.key })).status).toBe(403);
    expect((await call(keyed, 'POST', '/v1/query', { body: { query: 'jury' }, key: READER.key })).status).toBe(200);
  });

  it('requires keys by default (createServer without auth knows none) and opens everything with auth: false', async () => {
    const { url: none } = await start({ auth: undefined });
    expect((await ingest(none, [doc('default/1')], ALL.key)).status).toBe(401);
    const { url: open } = await start({ auth: false });
    expect((await ingest(open, [doc('open/1')])).status).toBe(200);
    expect((await call(open, 'GET', '/metrics')).status).toBe(200);
  });
});

describe('the keys file', () => {
  it('stores only hashes, mode 0600, and a running server picks up created and revoked keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rag-keys-'));
    dirs.push(dir);
    const file = join(dir, 'keys.json');
    const first = createKey(file, 'first', ['write']);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(first.key);
    expect(text).toContain(first.record.hash);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const { url } = await start({ auth: { keysFile: file } });
    expect((await ingest(url, [doc('file/1')], first.key)).status).toBe(200);
    const second = createKey(file, 'second', ['write']);
    await eventually(async () => (await ingest(url, [doc('file/2')], second.key)).status === 200);
    expect(revokeKey(file, 'first').map((k) => k.id)).toEqual([first.record.id]);
    await eventually(async () => (await ingest(url, [doc('file/3')], first.key)).status === 401);
    expect((await ingest(url, [doc('file/4')], second.key)).status).toBe(200);
    // a keys file that stops parsing (someone's hand edit) leaves the keys already loaded in force
    await writeFile(file, '{"version": 1, "keys": [');
    await new Promise((r) => setTimeout(r, 2500)); // more than one poll of the file
    expect((await ingest(url, [doc('file/5')], second.key)).status).toBe(200);
  });

  it('creates the first-start key only when there is no keys file, and never twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rag-keys-'));
    dirs.push(dir);
    const file = join(dir, 'sub', 'keys.json');
    const printed: string[] = [];
    const key = ensureKeysFile(file, (t) => printed.push(t));
    expect(key).toMatch(/^rag_[A-Za-z0-9_-]{43}$/);
    expect(printed.join('')).toContain(key!);
    expect(ensureKeysFile(file, (t) => printed.push(t))).toBeUndefined();
    expect(printed).toHaveLength(1);
    const stored = readKeys(file);
    expect(stored).toHaveLength(1);
    expect(stored[0].hash).toBe(hashKey(key!));
    expect((await readdir(join(dir, 'sub'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    revokeKey(file, stored[0].id);
    expect(ensureKeysFile(file, (t) => printed.push(t))).toBeUndefined(); // an emptied file stays empty
  });

  it('compares against every stored hash and finds each key', () => {
    const store = new KeyStore({ keys: KEYS });
    for (const k of [ALL, WRITER, READER, ADMIN]) {
      const r = store.authenticate(`Bearer ${k.key}`);
      expect('record' in r && r.record.id).toBe(k.record.id);
    }
    expect(store.authenticate(`bearer ${ALL.key}`)).toHaveProperty('record');
    expect(store.authenticate(undefined)).toEqual({ failure: 'missing' });
    expect(store.authenticate(`Bearer ${ALL.key}x`)).toEqual({ failure: 'unknown' });
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After past a key write budget; other keys and reads have their own budgets', async () => {
    const other = generateKey('other-writer', ['write']);
    const unlimited = generateKey('unlimited', ['write'], { write: 0 });
    const { url, server } = await start({ auth: { keys: [...KEYS, other.record, unlimited.record] }, rateLimit: { write: 3, read: 0 } });
    for (let i = 0; i < 3; i++) {
      const r = await ingest(url, [doc(`rl/${i}`)], WRITER.key);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBe('3');
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(2 - i));
    }
    const v = server.version;
    const over = await ingest(url, [doc('rl/3')], WRITER.key);
    expect(over.status).toBe(429);
    const retry = Number(over.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(over.json).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(over.json.message).toContain('write rate limit of 3');
    expect((await call(url, 'DELETE', '/v1/documents/rl%2F0', { key: WRITER.key })).status).toBe(429);
    expect(server.version).toBe(v);
    expect((await ingest(url, [doc('rl/other')], other.key)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await ingest(url, [doc(`rl/u${i}`)], unlimited.key)).status).toBe(200);
    expect((await call(url, 'POST', '/v1/query', { body: { query: 'okapis' } })).status).toBe(200);
  });

  it('counts anonymous reads per client IP and keyed reads per key', async () => {
    const { url } = await start({ rateLimit: { read: 2 } });
    const q = (key?: string) => call(url, 'POST', '/v1/query', { body: { query: 'jury' }, key });
    expect((await q()).status).toBe(200);
    expect((await q()).status).toBe(200);
    const over = await q();
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeTruthy();
    expect((await q(READER.key)).status).toBe(200);
    expect((await ingest(url, [doc('rl/read')], WRITER.key)).status).toBe(200);
  });

  describe('in Redis', async () => {
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    let reachable = false;
    try {
      const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
      probe.on('error', () => {});
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      reachable = true;
    } catch {
      reachable = false;
    }

    it.skipIf(!reachable)('shares one budget between two servers using the same Redis', async () => {
      const key = generateKey('shared', ['write']);
      const opts: ServerOptions = { auth: { keys: [key.record] }, rateLimit: { write: 3, redisUrl } };
      const a = await start(opts);
      const b = await start(opts);
      const statuses = [];
      for (const [i, u] of [a.url, b.url, a.url, b.url].entries()) statuses.push((await ingest(u, [doc(`redis/${i}`)], key.key)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    });

    it.runIf(!reachable)(`Redis rate-limit store skipped: no Redis at ${redisUrl}`, () => {
      console.warn(`skipping the Redis rate-limit test: no Redis at ${redisUrl}`);
    });
  });
});

describe('one id rule on every route', () => {
  let url: string;
  let server: RagServer;
  beforeAll(async () => {
    ({ url, server } = await start({ auth: { keys: KEYS } }));
  });
  const del = (id: string) => call(url, 'DELETE', `/v1/documents/${encodeURIComponent(id)}`, { key: WRITER.key });
  const delBody = (ids: unknown) => call(url, 'DELETE', '/v1/documents', { key: WRITER.key, body: { ids } });

  it('ingests and deletes ids up to 512 characters on every route, and refuses 513 on every route alike', async () => {
    for (const id of ['x'.repeat(101), 'y'.repeat(512), '日'.repeat(512), '😀'.repeat(512)]) {
      expect((await ingest(url, [doc(id)], WRITER.key)).status).toBe(200);
      const d = await del(id);
      expect(d.status, `${id.length} UTF-16 units`).toBe(200);
      expect(d.json.removed).toBe(1);
    }
    expect((await ingest(url, [doc('z'.repeat(512))], WRITER.key)).status).toBe(200);
    expect((await delBody(['z'.repeat(512)])).json.removed).toBe(1);

    const long = 'w'.repeat(513);
    const v = server.version;
    const answers = [await ingest(url, [doc(long)], WRITER.key), await del(long), await delBody([long])];
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400]);
    for (const a of answers) expect(a.json.message).toMatch(/must NOT have more than 512 characters/);
    expect(server.version).toBe(v);
  });

  it('answers 414 only for a path segment longer than any valid id could encode to', async () => {
    const r = await call(url, 'DELETE', `/v1/documents/${'A'.repeat(7000)}`, { key: WRITER.key });
    expect(r.status).toBe(414);
    expect(r.json).toMatchObject({ statusCode: 414, error: 'URI Too Long' });
  });

  it('refuses invalid UTF-8 with 400 instead of turning it into U+FFFD', async () => {
    const v = server.version;
    for (const path of ['/v1/documents/%FF', '/v1/documents/a%C3%28b', '/v1/documents/%ED%A0%80', '/v1/documents/%E6%97']) {
      const r = await call(url, 'DELETE', path, { key: WRITER.key });
      expect(r.status, path).toBe(400);
      expect(r.json.message).toContain('not valid percent-encoded UTF-8');
    }
    const raw = Buffer.concat([Buffer.from('{"documents":[{"id":"bad'), Buffer.from([0xff, 0xfe]), Buffer.from('","text":"t"}]}')]);
    const body = await call(url, 'POST', '/v1/documents', { key: WRITER.key, raw });
    expect(body.status).toBe(400);
    expect(body.json.message).toBe('the request body is not valid UTF-8');
    const lone = await call(url, 'POST', '/v1/documents', { key: WRITER.key, raw: '{"documents":[{"id":"a\\ud800b","text":"t"}]}' });
    expect(lone.status).toBe(400);
    expect(lone.json.message).toBe('body.documents.0.id contains an unpaired surrogate (U+D800)');
    const loneDel = await call(url, 'DELETE', '/v1/documents', { key: WRITER.key, raw: '{"ids":["\\udc00"]}' });
    expect(loneDel.status).toBe(400);
    expect(server.version).toBe(v);
    // nothing with U+FFFD in its id got in
    const hits = await call(url, 'POST', '/v1/query', { body: { query: 't', k: 100, mode: 'bm25' } });
    for (const h of hits.json.hits) expect(h.docId).not.toContain('\ufffd');
  });

  it('refuses control characters in ids on every route', async () => {
    const v = server.version;
    expect((await ingest(url, [doc('a\u0000b')], WRITER.key)).json.message).toBe('body.documents.0.id contains a control character (U+0000)');
    expect((await del('tab\there')).json.message).toBe('params.id contains a control character (U+0009)');
    expect((await delBody(['ok', 'nl\n'])).json.message).toBe('body.ids.1 contains a control character (U+000A)');
    expect(server.version).toBe(v);
  });

  it('refuses duplicate ids in one request with 400 naming them, and applies none of the batch', async () => {
    const v = server.version;
    const r = await ingest(url, [doc('dup/a'), doc('dup/b'), doc('dup/a'), doc('dup/c'), doc('dup/b')], WRITER.key);
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('"dup/a" (at 0 and 2)');
    expect(r.json.message).toContain('"dup/b" (at 1 and 4)');
    expect((await delBody(['brown/ca01', 'brown/ca01'])).status).toBe(400);
    expect(server.version).toBe(v);
    expect((await del('dup/a')).status).toBe(404);
  });

  it('treats path-traversal ids as plain ids', async () => {
    const id = '../../etc/passwd';
    expect((await del(id)).status).toBe(404);
    expect((await ingest(url, [doc(id)], WRITER.key)).status).toBe(200);
    expect((await call(url, 'DELETE', '/v1/documents/..%2F..%2Fetc%2Fpasswd', { key: WRITER.key })).json.removed).toBe(1);
  });
});

describe('prototype-pollution keys', () => {
  it('are refused in bodies, metadata and filters, and Object.prototype stays clean', async () => {
    const { url, server } = await start();
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const v = server.version;
    const raws = [
      '{"__proto__":{"polluted":1},"documents":[{"id":"p1","text":"t"}]}',
      '{"documents":[{"id":"p2","text":"t","__proto__":{"polluted":1}}]}',
      '{"documents":[{"id":"p3","text":"t","metadata":{"__proto__":{"polluted":1}}}]}',
      '{"documents":[{"id":"p4","text":"t","constructor":{"prototype":{"polluted":1}}}]}',
      '{"query":"jury","filter":{"__proto__":{"polluted":1}}}',
    ];
    for (const raw of raws) {
      const path = raw.includes('"query"') ? '/v1/query' : '/v1/documents';
      const r = await call(url, 'POST', path, { key: ALL.key, raw });
      expect(r.status, raw).toBe(400);
      expect(r.json.message).toContain('forbidden key');
    }
    for (const key of ['constructor', 'prototype']) {
      const m = await ingest(url, [{ id: 'p5', text: 't', metadata: { [key]: 'x' } }], ALL.key);
      expect(m.status).toBe(400);
      expect(m.json.message).toBe(`body.documents.0.metadata.${key} is not allowed as a key`);
      const f = await call(url, 'POST', '/v1/query', { body: { query: 'jury', filter: { [key]: 'x' } } });
      expect(f.status).toBe(400);
      expect(f.json.message).toBe(`body.filter.${key} is not allowed as a key`);
    }
    // ordinary keys that name Object.prototype members are harmless: they match nothing
    const t = await call(url, 'POST', '/v1/query', { body: { query: 'jury', filter: { toString: 'x', hasOwnProperty: 'y' } } });
    expect(t.status).toBe(200);
    expect(t.json.hits).toEqual([]);
    expect(server.version).toBe(v);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('slow senders', () => {
  /** Sends `head`, then one byte of `body` every `everyMs`; resolves with what came back and how many bytes went. */
  function slowRequest(url: string, head: string, body: string, everyMs: number): Promise<{ reply: string; sent: number; closed: boolean }> {
    const { port } = new URL(url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      let reply = '';
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const giveUp = setTimeout(() => finish(false), 30_000);
      const finish = (closed: boolean) => {
        clearInterval(timer);
        clearTimeout(giveUp);
        socket.destroy();
        resolve({ reply, sent, closed });
      };
      socket.on('data', (d) => (reply += d));
      socket.on('close', () => finish(true));
      socket.on('error', () => {});
      socket.write(head);
      timer = setInterval(() => {
        if (sent < body.length) socket.write(body[sent++]);
      }, everyMs);
    });
  }

  it('answers 408 and closes a body sent a byte at a time, and a query on the same server still answers', async () => {
    const { url } = await start({ requestTimeoutMs: 1500, headersTimeoutMs: 1000 });
    const body = JSON.stringify({ query: 'a query that arrives far too slowly', k: 3 });
    const head = `POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await slowRequest(url, head, body, 300);
    expect(r.closed).toBe(true);
    expect(r.reply).toMatch(/^HTTP\/1\.1 408 /);
    // closed long before the body could have been sent (it needs body.length × 300 ms)
    expect(r.sent).toBeLessThan(body.length);
    expect((await call(url, 'POST', '/v1/query', { body: { query: 'jury' } })).status).toBe(200);
  });

  it('answers 408 and closes headers sent a line at a time', async () => {
    const { url } = await start({ requestTimeoutMs: 3000, headersTimeoutMs: 1000 });
    const lines = Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: y\r\n`).join('');
    const r = await slowRequest(url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', lines, 100);
    expect(r.closed).toBe(true);
    expect(r.reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.sent).toBeLessThan(lines.length);
  });

  it('refuses a headers timeout longer than the request timeout', async () => {
    await expect(createServer({ headersTimeoutMs: 5000, requestTimeoutMs: 1000, auth: false })).rejects.toThrow(/headers timeout/);
  });
});
