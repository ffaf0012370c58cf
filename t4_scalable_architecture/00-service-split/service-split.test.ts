/**
 * Checkpoint for 00-service-split: the gateway's fan-out (`searchShards`). `npm run checkpoint -- 00-service-split`
 * runs it against exercise.ts; plain `npx vitest run` checks before.ts and after.ts.
 *
 * Real shard services in this process: each shard of a small engine (80 Brown documents, exact vectors) behind an
 * HTTP RPC server on 127.0.0.1, port 0, with the service credential. The reference is the monolith: the engine's own
 * BM25 and dense lists for the same query. What the shards were asked is counted by the servers (requests, k, how
 * many were busy at once), never timed. Faults: a shard whose port is closed (down) and one that accepts the call and
 * never answers (hung).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createEngine, type Engine } from '../../shared/engine.ts';
import { isZeroVector } from '../../shared/embed/sif.ts';
import { shardOf, type CollectionStats } from '../../shared/index/sharded.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { fetchCollectionStats } from '../../shared/services/gateway.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from '../../shared/services/http-rpc.ts';
import type { RpcClient, RpcHandler } from '../../shared/services/rpc.ts';
import { partFromEngine, shardHandler } from '../../shared/services/shard-service.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from './after.ts';

interface Mod {
  searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult>;
}

const SECRET = 'checkpoint-secret';
const K = 10;
const DOCS = 80;
const QUERIES = 16;
/** The per-shard deadline given to the fan-out in the hung-shard check, and how long the "client" waits. */
const DEADLINE_MS = 200;
const CLIENT_GIVES_UP_MS = 2_000;

/** One set of shard services over the engine, with counters. */
interface Cluster {
  n: number;
  servers: HttpRpcServer[];
  clients: RpcClient[];
  stats: CollectionStats;
  /** k of every search request, and the most shards busy at once. */
  asked: number[];
  busy: number;
  maxBusy: number;
}

let engine: Engine;
let queries: { text: string; tokens: string[]; vector?: Float32Array }[];
const clusters = new Map<string, Cluster>();
const allServers: HttpRpcServer[] = [];
const allClients: RpcClient[] = [];

async function cluster(n: number, fault?: { shard: number; kind: 'down' | 'hang' }): Promise<Cluster> {
  const key = `${n}-${fault?.kind ?? ''}-${fault?.shard ?? ''}`;
  const have = clusters.get(key);
  if (have) return have;
  const c: Cluster = { n, servers: [], clients: [], stats: undefined as never, asked: [], busy: 0, maxBusy: 0 };
  for (let i = 0; i < n; i++) {
    const inner = shardHandler(partFromEngine(engine, i, n));
    const hang = fault?.kind === 'hang' && fault.shard === i;
    const handler: RpcHandler = async (method, req, ctx) => {
      if (method !== 'search') return inner(method, req, ctx);
      c.asked.push((req as { k: number }).k);
      c.busy++;
      c.maxBusy = Math.max(c.maxBusy, c.busy);
      try {
        // let the others' requests arrive while this one is "working": shards asked at once overlap here
        await new Promise((r) => setTimeout(r, 15));
        if (hang) await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
        return await inner(method, req, ctx);
      } finally {
        c.busy--;
      }
    };
    const s = await serveHttpRpc(handler, { secret: SECRET });
    c.servers.push(s);
    allServers.push(s);
    const client = httpRpcClient(s.url, { secret: SECRET });
    c.clients.push(client);
    allClients.push(client);
  }
  c.stats = await fetchCollectionStats(c.clients);
  if (fault?.kind === 'down') {
    const s = c.servers[fault.shard];
    s.server.closeAllConnections();
    await s.close();
  }
  clusters.set(key, c);
  return c;
}

const reset = (c: Cluster) => {
  c.asked = [];
  c.maxBusy = 0;
};

/** The monolith's lists for a query: BM25 and dense, `k` each, as chunk id → score. */
async function monolith(q: (typeof queries)[number], k: number): Promise<{ text: [string, number][]; dense: [string, number][] }> {
  const b = await engine.query(q.text, { k, mode: 'bm25', answer: false });
  const d = await engine.query(q.text, { k, mode: 'dense', answer: false });
  return { text: b.hits.map((h) => [h.chunkId, h.score]), dense: d.hits.map((h) => [h.chunkId, h.score]) };
}

const ids = (r: FanOutResult, list: ScoredLabel[]): [string, number][] => list.map((h) => [r.chunks.get(h.label)?.chunkId ?? `label ${h.label} (no chunk)`, h.score]);

beforeAll(async () => {
  engine = await createEngine({ vector: { kind: 'flat' }, llm: null });
  await engine.ingest((await loadBrown()).slice(0, DOCS));
  const texts = ['jury investigation of the election', 'the president and congress', 'a baseball game', 'qqqq zzzz'];
  const size = engine.stats().chunks;
  for (let i = 0; texts.length < QUERIES; i++) {
    const c = engine.chunk((i * 389) % size);
    if (c) texts.push(c.text.split(/\s+/).slice(2, 7).join(' '));
  }
  queries = [];
  for (const text of texts) {
    const [v] = await engine.embedder.embed([text]);
    queries.push({ text, tokens: engine.analyzer.analyze(text), vector: isZeroVector(v) ? undefined : v });
  }
});

afterAll(async () => {
  await Promise.all(allClients.map((c) => c.close().catch(() => {})));
  for (const s of allServers) s.server.closeAllConnections();
  await Promise.all(allServers.map((s) => s.close()));
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  for (const n of [2, 3]) {
    it(`on a full set of ${n} shards, answers exactly what the monolith answers (BM25 and dense lists)`, async () => {
      const c = await cluster(n);
      for (const q of queries) {
        const want = await monolith(q, K);
        const r = await impl.searchShards(c.clients, { tokens: q.tokens, vector: q.vector }, { k: K, stats: c.stats, deadlineMs: 5_000 });
        expect(r.missingShards, 'every shard answered, yet missingShards is not empty').toEqual([]);
        for (const [list, label] of [[r.text, 'BM25'], [r.dense, 'dense']] as const) {
          for (let i = 1; i < list.length; i++) {
            if (list[i].score > list[i - 1].score) {
              throw new Error(
                `${label} list of "${q.text}" merged by rank, not by score: hit ${i + 1} scores ${list[i].score.toFixed(4)} after one scoring ${list[i - 1].score.toFixed(4)} ` +
                  '(each shard’s 1st hit is not better than another shard’s 3rd)',
              );
            }
          }
        }
        const wholeBm25 = new Map((await engine.query(q.text, { k: 1000, mode: 'bm25', answer: false })).hits.map((h) => [h.chunkId, h.score]));
        for (const [id, score] of ids(r, r.text)) {
          const whole = wholeBm25.get(id);
          if (whole !== undefined && whole !== score) {
            throw new Error(
              `BM25 score of ${id} for "${q.text}" is ${score.toFixed(4)}, the monolith's ${whole.toFixed(4)}: the shard scored with its own statistics, not the collection's (send the query's collection statistics)`,
            );
          }
        }
        expect(ids(r, r.text), `BM25 hits of "${q.text}" (${n} shards) differ from the monolith's`).toEqual(want.text);
        expect(ids(r, r.dense), `dense hits of "${q.text}" (${n} shards) differ from the monolith's`).toEqual(want.dense);
      }
    });
  }

  it('asks every shard at once, each for the full k', async () => {
    const c = await cluster(3);
    reset(c);
    await impl.searchShards(c.clients, { tokens: queries[0].tokens, vector: queries[0].vector }, { k: K, stats: c.stats, deadlineMs: 5_000 });
    expect(c.asked.length, 'searches sent to 3 shards').toBe(3);
    expect(c.asked.every((k) => k === K), `asked for k = ${c.asked.join(', ')}: every shard must return its own ${K} best (all may live in one shard)`).toBe(true);
    if (c.maxBusy < 3) throw new Error(`asked the shards one after another: at most ${c.maxBusy} of 3 busy at once (send to all before awaiting any)`);
  });

  describe.skipIf(name === 'before')('when a shard fails', () => {
    it('a shard that is down: answers from the others, and says which shard is missing', async () => {
      const c = await cluster(2, { shard: 1, kind: 'down' });
      let r: FanOutResult;
      try {
        r = await impl.searchShards(c.clients, { tokens: queries[0].tokens, vector: queries[0].vector }, { k: K, stats: c.stats, deadlineMs: 1_000 });
      } catch (err) {
        throw new Error(`a dead shard failed the whole query (${(err as Error).message}): answer with the shards that did answer, and flag the rest`);
      }
      if (r.missingShards.length === 0) throw new Error('answered without shard 1 but did not say so (missingShards is empty): a partial answer must be flagged');
      expect(r.missingShards).toEqual([1]);
      expect(r.text.length + r.dense.length, 'the shard that is up holds hits for this query').toBeGreaterThan(0);
      const foreign = [...r.text, ...r.dense].filter((h) => shardOf(h.label, 2) !== 0);
      expect(foreign, 'hits from the missing shard').toEqual([]);
    });

    it(`a shard that never answers is given up at the per-shard deadline (${DEADLINE_MS} ms), not when the client gives up`, async () => {
      const c = await cluster(2, { shard: 0, kind: 'hang' });
      const client = new AbortController();
      const gaveUp = new Promise<'gave up'>((resolve) =>
        setTimeout(() => {
          client.abort();
          resolve('gave up');
        }, CLIENT_GIVES_UP_MS),
      );
      const answer = impl.searchShards(c.clients, { tokens: queries[1].tokens, vector: queries[1].vector }, { k: K, stats: c.stats, deadlineMs: DEADLINE_MS, signal: client.signal });
      answer.catch(() => {});
      const first = await Promise.race([answer.then((r) => r, (e: Error) => e), gaveUp]);
      if (first === 'gave up') {
        throw new Error(`waited for a shard that does not answer until the client gave up (${CLIENT_GIVES_UP_MS} ms); the per-shard deadline was ${DEADLINE_MS} ms`);
      }
      if (first instanceof Error) throw new Error(`a shard that ran out of time failed the whole query (${first.message}): answer without it, flagged`);
      if (first.missingShards.length === 0) throw new Error('answered without shard 0 but did not say so (missingShards is empty): a partial answer must be flagged');
      expect(first.missingShards).toEqual([0]);
    });
  });
});
