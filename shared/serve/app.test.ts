/**
 * The HTTP service against a real server on 127.0.0.1 (port 0) with a small engine (30 Brown documents).
 * Behaviour only: status codes, messages, headers, freshness. No timing is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { loadBrown } from '../corpus/brown.ts';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { createEngine, type Engine } from '../engine.ts';
import type { Embedder } from '../types.ts';
import { createServer, type RagServer } from './app.ts';
import { generateKey } from './auth.ts';
import { Sequencer } from './writes.ts';

/** Test double: the real embedder, with a delay on single-text (query) calls while `delayMs` > 0. */
class SlowEmbedder implements Embedder {
  delayMs = 0;
  /** Resolves when a delayed call has started (the request is inside the engine). */
  started!: Promise<void>;
  private markStarted!: () => void;
  readonly name: string;
  readonly dim: number;
  constructor(private readonly inner: Embedder) {
    this.name = inner.name;
    this.dim = inner.dim;
    this.started = new Promise((r) => (this.markStarted = r));
  }
  async embed(texts: string[]) {
    if (this.delayMs > 0 && texts.length === 1) {
      this.markStarted();
      await new Promise((r) => setTimeout(r, this.delayMs));
    }
    return this.inner.embed(texts);
  }
  fit(texts: string[]) {
    return this.inner.fit!(texts);
  }
}

/** One key with every scope, accepted by every server these tests start (access is tested in access.test.ts). */
const KEY = generateKey('app-test', ['read', 'write', 'admin']);
const AUTH = { authorization: `Bearer ${KEY.key}` };

let docs: Awaited<ReturnType<typeof loadBrown>>;
let inner: Embedder;
const servers: RagServer[] = [];

async function smallEngine(embedder: Embedder = inner): Promise<Engine> {
  const engine = await createEngine({ embedder, llm: null });
  await engine.ingest(docs);
  return engine;
}

async function start(opts: Parameters<typeof createServer>[0] = {}): Promise<{ server: RagServer; url: string }> {
  const server = await createServer({ maxEventLoopDelayMs: 0, auth: { keys: [KEY.record] }, ...opts });
  servers.push(server);
  return { server, url: await server.listen(0, '127.0.0.1') };
}

async function post(url: string, body: unknown, path = '/v1/query') {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const docIds = (r: { json: { hits: Array<{ docId: string }> } }) => r.json.hits.map((h) => h.docId);

beforeAll(async () => {
  docs = await loadBrown({ limit: 30 });
  inner = await createDefaultEmbedder();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
});

describe('POST /v1/query validation', () => {
  let url: string;
  beforeAll(async () => {
    ({ url } = await start({ engine: await smallEngine() }));
  });

  it.each([
    [{}, 'body.query is required'],
    [{ query: '' }, 'body.query'],
    [{ query: 'jury', k: 0 }, 'body.k must be >= 1'],
    [{ query: 'jury', k: 'x' }, 'body.k must be integer'],
    [{ query: 'jury', k: 2.5 }, 'body.k must be integer'],
    [{ query: 'jury', mode: 'magic' }, 'body.mode must be one of bm25, dense, hybrid'],
    [{ query: 'jury', verbose: true }, 'body.verbose is not a known field'],
    [{ query: 'jury', filter: { genre: { $ne: 'news' } } }, 'body.filter.genre'],
    [{ query: 42 }, 'body.query must be string'],
  ])('rejects %j with 400 naming the field', async (body, message) => {
    const r = await post(url, body);
    expect(r.status).toBe(400);
    expect(r.json.message).toContain(message);
  });

  it('rejects a body that is not JSON with 400', async () => {
    const r = await post(url, '{"query": ');
    expect(r.status).toBe(400);
  });

  it('answers a valid query with hits, an answer and timings', async () => {
    const r = await post(url, { query: 'jury investigation of the election', k: 3 });
    expect(r.status).toBe(200);
    expect(r.json.hits).toHaveLength(3);
    expect(r.json.hits[0].docId).toBe('brown/ca01');
    expect(r.json.answer.text.length).toBeGreaterThan(0);
    expect(r.json.answer.citations.length).toBeGreaterThan(0);
    // every stage of a hybrid query passes through the response schema, and none exceeds the total
    const { total, ...stages } = r.json.timings as Record<string, number>;
    expect(Object.keys(stages).sort()).toEqual(['analyze', 'answer', 'bm25', 'dense', 'embed', 'fuse']);
    expect(Object.values(stages).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total + 1e-9);
  });

  it('applies a metadata filter', async () => {
    // the 30 documents are all news: a filter on another genre matches nothing
    const none = await post(url, { query: 'church religion god', k: 5, filter: { genre: 'religion' } });
    expect(none.status).toBe(200);
    expect(none.json.hits).toEqual([]);
    const some = await post(url, { query: 'jury election city county', k: 5, filter: { docId: ['brown/ca02', 'brown/ca05'] } });
    expect(some.status).toBe(200);
    expect(some.json.hits.length).toBeGreaterThan(0);
    for (const h of some.json.hits) expect(['brown/ca02', 'brown/ca05']).toContain(h.docId);
  });

  it('rejects ingest bodies naming the field', async () => {
    const r = await post(url, { documents: [{ id: 'x' }] }, '/v1/documents');
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('body.documents.0.text is required');
    const r2 = await post(url, { documents: [] }, '/v1/documents');
    expect(r2.status).toBe(400);
    expect(r2.json.message).toContain('body.documents');
  });
});

describe('limits', () => {
  it('answers 413 for a body over the limit', async () => {
    const { url } = await start({ engine: await smallEngine(), bodyLimit: 1024 });
    const r = await post(url, { query: 'word '.repeat(400) });
    expect(r.status).toBe(413);
    expect(r.json.message).toContain('1024');
  });

  it('reads off a refused body so a client still writing gets the 413, and the connection serves the next request', async () => {
    const { url } = await start({ engine: await smallEngine(), bodyLimit: 65_536 });
    const { port } = new URL(url);
    const body = Buffer.from(JSON.stringify({ query: 'word '.repeat(40_000) })); // 200 kB, 3× the limit
    const next = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const got = await new Promise<{ text: string; error?: string }>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && /\r\n\r\n[^]*\r\n\r\n[^]*\}$/.test(text)) socket.end();
      });
      socket.on('error', (err) => resolve({ text, error: err.message }));
      socket.on('close', () => resolve({ text }));
      socket.write(`POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
      socket.write(next);
    });
    expect(got.error).toBeUndefined();
    const statuses = [...got.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([413, 200]);
    expect(got.text).not.toMatch(/connection: close/i);
  });

  it('answers 504 when a query passes its deadline', async () => {
    const slow = new SlowEmbedder(inner);
    const { url, server } = await start({ engine: await smallEngine(slow), deadlineMs: 30 });
    slow.delayMs = 500;
    const r = await post(url, { query: 'a slow query about farming' });
    expect(r.status).toBe(504);
    expect(r.json.message).toContain('deadline');
    const m = await (await fetch(`${url}/metrics`, { headers: AUTH })).text();
    expect(m).toMatch(/rag_deadline_exceeded_total 1/);
    slow.delayMs = 0;
    expect((await post(url, { query: 'a fast query about farming' })).status).toBe(200);
    expect(server.version).toBe(0);
  });

  it('sheds load with 503 and Retry-After instead of queueing past the in-flight limit', async () => {
    const slow = new SlowEmbedder(inner);
    const { url } = await start({ engine: await smallEngine(slow), maxInFlight: 1, deadlineMs: 10_000 });
    slow.delayMs = 300;
    const first = post(url, { query: 'first slow query' });
    await slow.started; // the first query holds the only slot
    const shed = await post(url, { query: 'second slow query' });
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('1');
    expect((await first).status).toBe(200);
  });
});

describe('readiness', () => {
  it('is not ready (503) until the index is loaded, then ready', async () => {
    const { url, server } = await start();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const before = await fetch(`${url}/readyz`);
    expect(before.status).toBe(503);
    expect(((await before.json()) as { status: string }).status).toBe('loading');
    const q = await post(url, { query: 'jury' });
    expect(q.status).toBe(503);
    expect(q.headers.get('retry-after')).toBe('1');

    server.setEngine(await smallEngine());
    const after = await fetch(`${url}/readyz`);
    expect(after.status).toBe(200);
    const body = (await after.json()) as { status: string; documents: number };
    expect(body.status).toBe('ready');
    expect(body.documents).toBe(30);
    expect((await post(url, { query: 'jury' })).status).toBe(200);
  });
});

describe('cache and freshness (in-process)', () => {
  let url: string;
  beforeAll(async () => {
    ({ url } = await start({ engine: await smallEngine() }));
  });

  it('serves a repeated query from the cache, ignoring case and spacing', async () => {
    const a = await post(url, { query: 'Fulton County grand jury', k: 5 });
    const b = await post(url, { query: '  fulton   county GRAND jury', k: 5 });
    expect(a.headers.get('x-cache')).toBe('miss');
    expect(b.headers.get('x-cache')).toBe('memory');
    expect(b.json).toEqual(a.json);
    const c = await post(url, { query: 'Fulton County grand jury', k: 4 });
    expect(c.headers.get('x-cache')).toBe('miss');
  });

  it('never serves a stale result after an acknowledged ingest or delete', async () => {
    const q = { query: 'quagga zebra migration', k: 5 };
    const before = await post(url, q);
    expect(docIds(before)).not.toContain('zoo/1');
    expect((await post(url, q)).headers.get('x-cache')).toBe('memory');

    const ack = await post(url, { documents: [{ id: 'zoo/1', text: 'The quagga zebra migration crossed the river.' }] }, '/v1/documents');
    expect(ack.status).toBe(200);
    expect(ack.json).toMatchObject({ version: 1, documents: 1, chunks: 1 });
    const after = await post(url, q);
    expect(after.headers.get('x-cache')).toBe('miss');
    expect(docIds(after)[0]).toBe('zoo/1');
    expect(after.json.version).toBe(1);

    const del = await fetch(`${url}/v1/documents/${encodeURIComponent('zoo/1')}`, { method: 'DELETE', headers: AUTH });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ version: 2, removed: 1 });
    const gone = await post(url, q);
    expect(docIds(gone)).not.toContain('zoo/1');

    const missing = await fetch(`${url}/v1/documents/nope`, { method: 'DELETE', headers: AUTH });
    expect(missing.status).toBe(404);
  });

  it('numbers concurrent writes densely and applies every one of them', async () => {
    expect((await post(url, { documents: [{ id: 'burst/pre', text: 'Okapi burst before the others grazed.' }] }, '/v1/documents')).status).toBe(200);
    const v0 = ((await (await fetch(`${url}/readyz`)).json()) as { version: number }).version;
    // all in flight at once: twelve ingests and a delete of the document written above
    const ingests = Array.from({ length: 12 }, (_, i) =>
      post(url, { documents: [{ id: `burst/${i}`, text: `Okapi burst number ${i} grazed near the river.` }] }, '/v1/documents'),
    );
    const del = fetch(`${url}/v1/documents/${encodeURIComponent('burst/pre')}`, { method: 'DELETE', headers: AUTH }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
    const acks = await Promise.all([...ingests, del]);
    expect(acks.every((a) => a.status === 200)).toBe(true);
    expect(acks.map((a) => a.json.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 13 }, (_, i) => v0 + i + 1));
    expect(acks[12].json.removed).toBe(1);
    const found = docIds(await post(url, { query: 'okapi burst grazed', k: 20, mode: 'bm25' }));
    expect(found.filter((id) => id.startsWith('burst/')).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `burst/${i}`).sort());
  });

  it('exposes the named metrics', async () => {
    const text = await (await fetch(`${url}/metrics`, { headers: AUTH })).text();
    for (const name of [
      'rag_http_request_duration_seconds_bucket',
      'rag_query_stage_seconds_bucket{le="0.001",stage="bm25"}',
      'rag_cache_hits_total{cache="results",tier="memory"}',
      'rag_cache_misses_total{cache="results",tier="memory"}',
      'rag_index_chunks',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/rag_index_version [1-9]/);
    expect(text).toMatch(/rag_http_request_duration_seconds_count\{route="\/v1\/query",method="POST",status="200"\}/);
  });

  it('serves an OpenAPI description of the routes', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: { required: string[] } }> } } }>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/query', '/v1/documents', '/v1/documents/{id}', '/healthz', '/readyz']));
    expect(doc.paths['/v1/query'].post.requestBody.content['application/json'].schema.required).toEqual(['query']);
  });
});

describe('cache and freshness with the Redis tier', async () => {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redis: Redis | undefined;
  try {
    const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
    probe.on('error', () => {});
    await probe.connect();
    await probe.ping();
    redis = probe;
  } catch {
    redis = undefined;
  }
  afterAll(() => redis?.disconnect());

  it.skipIf(!redis)('two replicas share results through Redis and both move to the new version on a write', async () => {
    if (!redis) return;
    const namespace = `test-${process.pid}-${Date.now()}`;
    // two "workers" with their own engines and one sequencer fanning writes out to both, as the cluster primary does
    const replicas: RagServer[] = [];
    const sequencer = new Sequencer(async (v, op) => {
      const outcomes = await Promise.all(replicas.map((r) => r.applySequenced(v, op)));
      return outcomes[0];
    });
    const a = await start({ engine: await smallEngine(), cache: { redis, namespace }, writes: sequencer });
    const b = await start({ engine: await smallEngine(), cache: { redis, namespace }, writes: sequencer });
    replicas.push(a.server, b.server);

    const q = { query: 'quagga zebra stampede', k: 3 };
    expect((await post(a.url, q)).headers.get('x-cache')).toBe('miss');
    const fromB = await post(b.url, q);
    expect(fromB.headers.get('x-cache')).toBe('redis');
    expect(docIds(fromB)).not.toContain('zoo/2');

    const ack = await post(a.url, { documents: [{ id: 'zoo/2', text: 'A quagga zebra stampede at dawn.' }] }, '/v1/documents');
    expect(ack.status).toBe(200);
    expect(b.server.version).toBe(ack.json.version);
    const after = await post(b.url, q);
    expect(after.headers.get('x-cache')).toBe('miss');
    expect(docIds(after)[0]).toBe('zoo/2');
  });

  it.runIf(!redis)(`Redis tier skipped: no Redis reachable at ${redisUrl}`, () => {
    console.warn(`skipping the Redis cache tests: no Redis at ${redisUrl}`);
  });
});

describe('graceful shutdown', () => {
  it('finishes an in-flight request, then refuses new connections', async () => {
    const slow = new SlowEmbedder(inner);
    const { url, server } = await start({ engine: await smallEngine(slow), deadlineMs: 10_000 });
    slow.delayMs = 300;
    const inFlight = post(url, { query: 'a query still running at shutdown' });
    await slow.started; // the request is inside the engine now
    await server.close();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.json.hits.length).toBeGreaterThan(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
