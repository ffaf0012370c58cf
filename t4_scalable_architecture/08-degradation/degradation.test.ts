/**
 * Checkpoint for 08-degradation: the gateway's retrieval (`createRetriever`). `npm run checkpoint -- 08-degradation`
 * runs it against exercise.ts; plain `npx vitest run` checks before.ts (only "answers in full when every hop is
 * healthy" applies to it) and after.ts.
 *
 * The shards and the embedder are fakes that record every call (when on a virtual clock it arrived, the budget it
 * carried) and answer as the test says: 'up', 'down' (UNAVAILABLE), a latency in virtual ms (past the call's budget
 * it fails DEADLINE_EXCEEDED when the budget runs out, as http-rpc does), or 'hang' (answers only when the test
 * lets it). Budgets, flags and calls in flight are counted; nothing is timed.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { collectionStats } from '../../shared/index/sharded.ts';
import { searchShards, type RetrieverOptions, type RetrieveRequest } from '../../shared/services/gateway.ts';
import { RpcError, isRpcError, type CallOptions, type RpcClient } from '../../shared/services/rpc.ts';
import type { ShardSearchReply, ShardSearchRequest } from '../../shared/services/shard-service.ts';

type Mod = typeof import('./after.ts');

type Behaviour = { kind: 'up'; latencyMs?: number } | { kind: 'down' } | { kind: 'hang' };

interface Call {
  at: number;
  deadlineMs?: number;
  req: unknown;
}

const clock = { t: 0 };

function fakeService(name: string, answer: (req: unknown) => unknown) {
  const s = { name, behaviour: { kind: 'up' } as Behaviour, calls: [] as Call[], inFlight: 0, maxInFlight: 0, hung: [] as Array<() => void> };
  const client: RpcClient = {
    target: `http://${name}`,
    call: async <Res>(_m: string, req: unknown, o: CallOptions = {}): Promise<Res> => {
      s.calls.push({ at: clock.t, deadlineMs: o.deadlineMs, req });
      s.inFlight++;
      s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
      try {
        const b = s.behaviour;
        if (b.kind === 'down') throw new RpcError('UNAVAILABLE', `${name}: connection refused`, `http://${name}`);
        if (b.kind === 'hang') {
          await new Promise<void>((resolve) => s.hung.push(resolve));
          throw new RpcError('DEADLINE_EXCEEDED', `${name}: no answer in time`, `http://${name}`);
        }
        await Promise.resolve();
        const latency = b.latencyMs ?? 0;
        if (o.deadlineMs !== undefined && latency > o.deadlineMs) {
          clock.t = Math.max(clock.t, s.calls[s.calls.length - 1].at + o.deadlineMs);
          throw new RpcError('DEADLINE_EXCEEDED', `${name}: no answer within ${o.deadlineMs} ms`, `http://${name}`);
        }
        clock.t = Math.max(clock.t, s.calls[s.calls.length - 1].at + latency);
        return answer(req) as Res;
      } finally {
        s.inFlight--;
      }
    },
    close: async () => {},
  };
  return { s, client };
}

const STATS = collectionStats([{ docs: 100, totalLength: 1000, terms: ['jury', 'election'], df: Int32Array.from([5, 7]) }]);

function shardAnswer(i: number) {
  return (req: unknown): ShardSearchReply => {
    const r = req as ShardSearchRequest;
    const label = 100 * i + 1;
    const chunk = { chunkId: `c${label}`, docId: `d${i}`, text: `shard ${i}`, position: 0, metadata: {} };
    return { text: r.tokens ? [{ label, score: 1 + i }] : [], dense: r.vector ? [{ label, score: 0.5 + i }] : [], chunks: { [label]: chunk } } as ShardSearchReply;
  };
}

function setup(impl: Mod, over: Partial<RetrieverOptions> = {}) {
  clock.t = 0;
  const shards = [0, 1].map((i) => fakeService(`shard-${i}`, shardAnswer(i)));
  const embedder = fakeService('embedder', () => ({ vectors: [[0.6, 0.8]] }));
  const opts: RetrieverOptions = {
    shardDeadlineMs: 1000,
    embedDeadlineMs: 1000,
    maxPerShard: 4,
    maxToEmbedder: 4,
    maxQueue: 0,
    embedShare: 0.5,
    replyReserveMs: 20,
    now: () => clock.t,
    fanOut: searchShards,
    ...over,
  };
  const retriever = impl.createRetriever(
    shards.map((s) => s.client),
    embedder.client,
    opts,
  );
  const request = (budgetMs: number, mode: RetrieveRequest['mode'] = 'hybrid'): RetrieveRequest => ({
    text: 'jury election',
    tokens: ['jury', 'election'],
    mode,
    k: 10,
    stats: STATS,
    deadline: clock.t + budgetMs,
  });
  return { shards: shards.map((s) => s.s), embedder: embedder.s, retriever, request };
}

const describeErr = (e: unknown) => (isRpcError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

/** Every call any service received carried a budget within what the client had left when it was sent. */
function expectWithinBudget(services: Array<{ name: string; calls: Call[] }>, deadline: number, budgetMs: number) {
  for (const svc of services) {
    for (const c of svc.calls) {
      const left = deadline - c.at;
      expect(c.deadlineMs, `${svc.name} was sent a call without a budget: it may work long after the client's ${budgetMs} ms are gone`).toBeDefined();
      expect(
        c.deadlineMs! <= left + 1e-6,
        `${svc.name} was sent a ${c.deadlineMs} ms budget at ${c.at} ms, when the client had ${left} ms left: each hop gets the full timeout again, so the total exceeds the client's ${budgetMs} ms`,
      ).toBe(true);
      expect(c.deadlineMs! > 0, `${svc.name} was sent a call with ${c.deadlineMs} ms of budget: the client's ${budgetMs} ms were already spent`).toBe(true);
    }
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('answers in full when every hop is healthy, and flags nothing', async () => {
    const { shards, embedder, retriever, request } = setup(impl);
    const req = request(1000);
    const r = await retriever.retrieve(req);
    expect(r.missingShards, `every shard answered, yet missingShards is ${JSON.stringify(r.missingShards)}`).toEqual([]);
    expect(r.degraded, `nothing was left out, yet degraded is ${JSON.stringify(r.degraded)}: the flag must mean something was`).toEqual([]);
    expect(r.mode).toBe('hybrid');
    expect(r.text.map((h) => h.label).sort()).toEqual([1, 101]);
    expect(r.dense.map((h) => h.label).sort()).toEqual([1, 101]);
    expectWithinBudget([embedder, ...shards], req.deadline, 1000);
    await retriever.close();
  });

  describe.skipIf(name === 'before')('degrading within the budget', () => {
    it('sends every hop only what is left of the client’s budget (a slow embedder)', async () => {
      const { shards, embedder, retriever, request } = setup(impl);
      embedder.behaviour = { kind: 'up', latencyMs: 200 };
      const req = request(600);
      const r = await retriever.retrieve(req).catch((e: unknown) => expect.fail(`the request failed: ${describeErr(e)}`));
      expectWithinBudget([embedder, ...shards], req.deadline, 600);
      expect(shards.every((s) => s.calls.length === 1), 'every shard should have been asked once').toBe(true);
      expect(r.missingShards).toEqual([]);
    });

    it('an embedder too slow for the budget: BM25 only, flagged, still within the budget', async () => {
      const { shards, embedder, retriever, request } = setup(impl);
      embedder.behaviour = { kind: 'up', latencyMs: 5_000 };
      const req = request(600);
      const r = await retriever.retrieve(req).catch((e: unknown) => expect.fail(`the embedder was slow and the request failed (${describeErr(e)}): a BM25-only answer was possible`));
      expectWithinBudget([embedder, ...shards], req.deadline, 600);
      expect(r.text.length, 'no BM25 hits: the shards were not asked with the query terms').toBeGreaterThan(0);
      expect(r.degraded, `answered without the embedder (BM25 only) but degraded is ${JSON.stringify(r.degraded)}: a degraded answer must be flagged`).toContain('bm25-only');
      expect(r.mode).toBe('bm25');
    });

    for (const mode of ['hybrid', 'dense'] as const) {
      it(`the embedder down: a ${mode} query is answered BM25 only, flagged`, async () => {
        const { shards, embedder, retriever, request } = setup(impl);
        embedder.behaviour = { kind: 'down' };
        const r = await retriever.retrieve(request(1000, mode)).catch((e: unknown) => expect.fail(`the embedder was down and the request failed (${describeErr(e)}): a BM25-only answer was possible`));
        const sent = shards[0].calls[0]?.req as ShardSearchRequest | undefined;
        expect(sent?.tokens, 'the shards were not sent the query terms: nothing to answer with').toBeDefined();
        expect(r.text.length).toBeGreaterThan(0);
        expect(r.dense).toEqual([]);
        expect(r.degraded, `answered BM25 only (no query vector) but degraded is ${JSON.stringify(r.degraded)}: a degraded answer must be flagged`).toEqual(['bm25-only']);
        expect(r.mode, `the lists are BM25 only but mode says ${r.mode}: a degraded answer must be flagged`).toBe('bm25');
      });
    }

    it('a shard missing: flagged shards-missing, and only that', async () => {
      const { shards, retriever, request } = setup(impl);
      shards[1].behaviour = { kind: 'down' };
      const r = await retriever.retrieve(request(1000));
      expect(r.missingShards).toEqual([1]);
      expect(r.degraded, `shard 1 was left out but degraded is ${JSON.stringify(r.degraded)}`).toEqual(['shards-missing']);
    });

    it('bulkheads: a slow shard gets at most maxPerShard calls in flight, the healthy shard answers every request (bursts of maxPerShard)', async () => {
      const { shards, retriever, request } = setup(impl);
      shards[1].behaviour = { kind: 'hang' };
      const n = 20;
      const pending: Array<Promise<{ missingShards: number[] }>> = [];
      // bursts of 4 requests at once (as under load), the healthy shard answering between bursts
      for (let i = 0; i < n; i++) {
        pending.push(retriever.retrieve(request(1000)));
        if (i % 4 === 3) for (let j = 0; j < 5; j++) await new Promise((r) => setImmediate(r));
      }
      const inFlight = shards[1].maxInFlight;
      // let the slow shard's calls end (as their budget would), then every request must have an answer
      for (let j = 0; j < 10 && (shards[1].hung.length > 0 || shards[1].inFlight > 0); j++) {
        shards[1].hung.splice(0).forEach((f) => f());
        await new Promise((r) => setImmediate(r));
      }
      const results = await Promise.all(pending);
      expect(
        inFlight,
        `${inFlight} calls in flight to the slow shard 1 at once, bulkhead bound 4: every request's call piles up on it and holds the request for its whole timeout`,
      ).toBeLessThanOrEqual(4);
      const answeredBy0 = results.filter((r) => !r.missingShards.includes(0)).length;
      expect(
        answeredBy0,
        `the healthy shard 0 answered only ${answeredBy0} of ${n} requests: the slow shard 1's calls took the slots of the healthy shards (one bulkhead for all shards)`,
      ).toBe(n);
      expect(results.filter((r) => r.missingShards.includes(1)).length, 'the slow shard should be missing from every answer').toBe(n);
    });
  });
});
