/**
 * The gateway over in-process shard and embedder services (real HTTP RPC on 127.0.0.1, port 0): its hits equal the
 * monolith's (the engine's own `query` on the same saved index) for every mode and shard count; a shard that is down
 * or does not answer is left out within the per-shard deadline and the answer flagged; calls without the service
 * credential are refused; the HTTP API checks keys like `serve` and answers a missing shard with 200, not 5xx.
 * Since t4/08: an embedder that is down turns hybrid and dense queries into BM25 only, flagged `degraded:
 * ['bm25-only']` (it was a 503); a hung shard is given up within the request's budget (t4/08's checkpoint counts the
 * budget each hop is sent), and 504 only when no shard answered in it; over `maxInFlight` requests are shed with
 * 503 + Retry-After; a bad `x-request-timeout-ms` is a 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine, type RetrievalMode } from '../engine.ts';
import { generateKey } from '../serve/auth.ts';
import { ensureSplitIndex } from './cli-up.ts';
import { embedderHandler } from './embedder-service.ts';
import { createGatewayApp, Gateway, REQUEST_TIMEOUT_HEADER, type GatewayOptions } from './gateway.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { isRpcError, type RpcHandler } from './rpc.ts';
import { partFromEngine, shardHandler } from './shard-service.ts';

const SECRET = 'test-secret-0123456789';
let engine: Engine;
let queries: string[];
const servers: HttpRpcServer[] = [];

/** Queries taken from the collection: words 3-8 of chunks spread over it, and a few of our own. */
function sampleQueries(e: Engine, n: number): string[] {
  const out = ['jury investigation of the election', 'baseball pitcher', 'the religious experience of faith', 'zzzz qqqq'];
  const size = e.stats().chunks;
  for (let i = 0; out.length < n; i++) {
    const c = e.chunk(Math.floor((i * 7919) % size));
    if (!c) continue;
    const words = c.text.split(/\s+/).slice(3, 9).join(' ');
    if (words.trim()) out.push(words);
  }
  return out;
}

async function serve(handler: RpcHandler): Promise<HttpRpcServer> {
  const s = await serveHttpRpc(handler, { secret: SECRET });
  servers.push(s);
  return s;
}

async function gatewayOver(shards: number, extra: { hang?: number; down?: number; deadlineMs?: number; opts?: Partial<GatewayOptions> } = {}): Promise<Gateway> {
  const clients = [];
  for (let i = 0; i < shards; i++) {
    const inner = shardHandler(partFromEngine(engine, i, shards));
    const handler: RpcHandler =
      extra.hang === i
        ? async (m, r, ctx) => (m === 'search' ? new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) : inner(m, r, ctx))
        : inner;
    const s = await serve(handler);
    clients.push(httpRpcClient(s.url, { secret: SECRET }));
  }
  const emb = await serve(embedderHandler(engine.embedder));
  const g = new Gateway({ ...extra.opts, shards: clients, embedder: httpRpcClient(emb.url, { secret: SECRET }), shardDeadlineMs: extra.deadlineMs });
  await g.init();
  if (extra.down !== undefined) await servers[servers.length - 1 - shards + extra.down].close();
  return g;
}

beforeAll(async () => {
  engine = await loadEngine(await ensureSplitIndex(), { llm: null });
  queries = sampleQueries(engine, 40);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('the gateway over shard services', () => {
  for (const shards of [2, 3]) {
    it(`answers exactly what the monolith answers, every mode, ${shards} shards`, async () => {
      const g = await gatewayOver(shards);
      try {
        for (const mode of ['hybrid', 'bm25', 'dense'] as RetrievalMode[]) {
          for (const q of queries) {
            const want = await engine.query(q, { k: 10, mode, answer: false });
            const got = await g.search(q, { k: 10, mode });
            expect(got.partial).toBe(false);
            const fmt = (hits: { chunkId: string; score: number }[]) => hits.map((h) => `${h.chunkId}:${h.score}`);
            expect(fmt(got.hits), `${mode} "${q}"`).toEqual(fmt(want.hits));
            expect(got.hits.map((h) => h.scores)).toEqual(want.hits.map((h) => h.scores));
            expect(got.hits.map((h) => [h.docId, h.text, h.position])).toEqual(want.hits.map((h) => [h.docId, h.text, h.position]));
          }
        }
      } finally {
        await g.close();
      }
    });
  }

  it('leaves out a shard that is down and flags the answer partial', async () => {
    const g = await gatewayOver(2, { down: 1 });
    try {
      const r = await g.search(queries[0], { k: 10 });
      expect(r.partial).toBe(true);
      expect(r.missingShards).toEqual([1]);
      expect(r.hits.length).toBeGreaterThan(0);
    } finally {
      await g.close();
    }
  });

  it('does not wait past the per-shard deadline for a shard that never answers', async () => {
    const g = await gatewayOver(2, { hang: 0, deadlineMs: 300 });
    try {
      const t0 = performance.now();
      const r = await g.search(queries[1], { k: 10 });
      expect(r.missingShards).toEqual([0]);
      expect(r.partial).toBe(true);
      // behaviour, not speed: it answered at all (a wait for the hung shard never returns); the bound is 10× slack
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      await g.close();
    }
  });

  it('services refuse calls without the service credential', async () => {
    const s = await serve(shardHandler(partFromEngine(engine, 0, 2)));
    const anon = httpRpcClient(s.url);
    const wrong = httpRpcClient(s.url, { secret: 'not-the-secret' });
    try {
      for (const c of [anon, wrong]) {
        const err = await c.call('stats', {}).catch((e: unknown) => e);
        expect(isRpcError(err, 'UNAUTHENTICATED')).toBe(true);
      }
    } finally {
      await anon.close();
      await wrong.close();
    }
  });

  it('HTTP: checks keys like serve, answers a missing shard 200 + partial, refuses filters with 400', async () => {
    const g = await gatewayOver(2, { down: 0 });
    const { key, record } = generateKey('reader', ['read']);
    const app = await createGatewayApp(g, { auth: { keys: [record], readAccess: 'key' } });
    try {
      const post = (body: unknown, auth?: string) =>
        app.inject({ method: 'POST', url: '/v1/query', payload: body as object, headers: auth ? { authorization: `Bearer ${auth}` } : {} });
      expect((await post({ query: 'jury' })).statusCode).toBe(401);
      expect((await post({ query: 'jury' }, 'rag_wrong')).statusCode).toBe(401);
      const ok = await post({ query: 'jury election', k: 5 }, key);
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ partial: true, missingShards: [0] });
      const bad = await post({ query: 'jury', filter: { genre: 'news' } }, key);
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/filter/);
      expect((await post({ query: 'jury', k: 0 }, key)).statusCode).toBe(400);
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await g.close();
    }
  });
  it('embedder down: hybrid and dense queries are answered BM25 only, flagged (not 503)', async () => {
    const g = await gatewayOver(2);
    const embedder = servers[servers.length - 1];
    await embedder.close();
    try {
      for (const mode of ['hybrid', 'dense'] as RetrievalMode[]) {
        const q = queries[0];
        const got = await g.search(q, { k: 10, mode });
        const want = await engine.query(q, { k: 10, mode: 'bm25', answer: false });
        expect(got.degraded, mode).toEqual(['bm25-only']);
        expect(got.partial).toBe(false);
        expect(got.hits.map((h) => `${h.chunkId}:${h.score}`)).toEqual(want.hits.map((h) => `${h.chunkId}:${h.score}`));
      }
      const bm25 = await g.search(queries[0], { k: 10, mode: 'bm25' });
      expect(bm25.degraded).toEqual([]);
    } finally {
      await g.close();
    }
  });

  it('answers within the request budget when a shard hangs, not at the shard cap (5 s); the budget is cut to maxTimeoutMs', async () => {
    const g = await gatewayOver(2, { hang: 1, deadlineMs: 5_000 });
    try {
      const t0 = performance.now();
      const r = await g.search(queries[2], { k: 5, timeoutMs: 300 });
      expect(r.budgetMs).toBe(300);
      expect(r.missingShards).toEqual([1]);
      expect(r.degraded).toEqual(['shards-missing']);
      expect(performance.now() - t0).toBeLessThan(3000); // answered at all (the hung shard's own deadline is 5 s)
      expect(g.budgetOf(60_000)).toBe(g.maxTimeoutMs);
    } finally {
      await g.close();
    }
  });

  it('504 (DEADLINE_EXCEEDED) only when no shard answered within the budget', async () => {
    const g = await gatewayOver(1, { hang: 0, deadlineMs: 5_000 });
    try {
      const err = await g.search(queries[3], { k: 5, timeoutMs: 250 }).catch((e: unknown) => e);
      expect(isRpcError(err, 'DEADLINE_EXCEEDED'), String(err)).toBe(true);
    } finally {
      await g.close();
    }
  });

  it('HTTP: sheds over maxInFlight with 503 + Retry-After, refuses a bad budget header with 400', async () => {
    const g = await gatewayOver(2, { hang: 0, opts: { maxInFlight: 1 } });
    const app = await createGatewayApp(g, { auth: false });
    try {
      const post = (headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/v1/query', payload: { query: 'jury election' }, headers });
      const first = post({ [REQUEST_TIMEOUT_HEADER]: '400' });
      for (let i = 0; i < 200 && g.load.inFlight < 1; i++) await new Promise((r) => setTimeout(r, 5));
      expect(g.load.inFlight, 'the first request should be in the gateway, waiting for the hung shard').toBe(1);
      const shed = await post();
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.json().message).toMatch(/capacity/);
      const ok = await first;
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ partial: true, missingShards: [0], degraded: ['shards-missing'], budgetMs: 400 });
      expect((await post({ [REQUEST_TIMEOUT_HEADER]: 'soon' })).statusCode).toBe(400);
    } finally {
      await app.close();
      await g.close();
    }
  });
});
