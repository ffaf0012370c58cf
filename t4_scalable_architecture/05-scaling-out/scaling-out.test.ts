/**
 * Checkpoint for 05-scaling-out: the balancer's pick rule (`pick`), inside the engine's replica set
 * (shared/services/replica-set.ts). `npm run checkpoint -- 05-scaling-out` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (one replica per shard: only "the answers" applies) and after.ts.
 *
 * Replicas are in-process RpcClients: real shard handlers over a small engine (80 Brown documents, exact vectors)
 * for the answers, and fakes whose behaviour the test sets (answer, hang, refuse the connection) for the pick rule.
 * What each replica was sent is counted, never timed; the clock of the down marks is the test's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createEngine, type Engine } from '../../shared/engine.ts';
import { isZeroVector } from '../../shared/embed/sif.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { fetchCollectionStats, searchShards } from '../../shared/services/gateway.ts';
import type { ReplicaSet } from '../../shared/services/replica-set.ts';
import { RpcError, toRpcError, type RpcClient, type RpcHandler } from '../../shared/services/rpc.ts';
import { partFromEngine, shardHandler } from '../../shared/services/shard-service.ts';
import type { ReplicaSetOptions } from '../../shared/services/replica-set.ts';

interface Mod {
  replicaSet(replicas: readonly RpcClient[], opts?: Omit<ReplicaSetOptions, 'pick'>): ReplicaSet;
}

const DOCS = 80;
const DOWN_MS = 1000;

/** An in-process client over a handler (what an HTTP hop would carry, minus the hop). */
function local(name: string, handler: RpcHandler): RpcClient {
  return {
    target: name,
    call: async <Res>(method: string, req: unknown) => {
      try {
        return (await handler(method, structuredClone(req), { signal: new AbortController().signal })) as Res;
      } catch (err) {
        throw toRpcError(err, name);
      }
    },
    close: async () => {},
  };
}

/** A replica whose behaviour the test sets: answers at once, hangs until released, or refuses the connection. */
interface Fake extends RpcClient {
  received: number;
  mode: 'ok' | 'hang' | 'refused';
  release(): void;
}
function fake(id: number): Fake {
  let waiting: (() => void)[] = [];
  const f: Fake = {
    target: `replica-${id}`,
    received: 0,
    mode: 'ok',
    async call<Res>(method: string): Promise<Res> {
      f.received++;
      if (f.mode === 'refused') throw new RpcError('UNAVAILABLE', `${method} on replica-${id}: ECONNREFUSED`, f.target);
      if (f.mode === 'hang') await new Promise<void>((r) => waiting.push(r));
      return { from: id } as Res;
    },
    release() {
      const w = waiting;
      waiting = [];
      for (const r of w) r();
    },
    async close() {},
  };
  return f;
}

const tick = () => new Promise((r) => setImmediate(r));

let engine: Engine;
let queries: { text: string; tokens: string[]; vector?: Float32Array }[];

beforeAll(async () => {
  engine = await createEngine({ vector: { kind: 'flat' }, llm: null });
  await engine.ingest((await loadBrown()).slice(0, DOCS));
  const texts = ['jury investigation of the election', 'the president and congress', 'a baseball game'];
  const size = engine.stats().chunks;
  for (let i = 0; texts.length < 10; i++) {
    const c = engine.chunk((i * 389) % size);
    if (c) texts.push(c.text.split(/\s+/).slice(2, 7).join(' '));
  }
  queries = [];
  for (const text of texts) {
    const [v] = await engine.embedder.embed([text]);
    queries.push({ text, tokens: engine.analyzer.analyze(text), vector: isZeroVector(v) ? undefined : v });
  }
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('answers as one replica per shard does, whichever replica answers (one replica of shard 0 down)', async () => {
    const SHARDS = 2;
    const single = Array.from({ length: SHARDS }, (_, s) => local(`shard-${s}`, shardHandler(partFromEngine(engine, s, SHARDS))));
    const sets = Array.from({ length: SHARDS }, (_, s) => {
      const replicas: RpcClient[] = [0, 1, 2].map((r) => local(`shard-${s}.${r}`, shardHandler(partFromEngine(engine, s, SHARDS))));
      if (s === 0) replicas[1] = Object.assign(fake(1), { mode: 'refused' as const });
      return impl.replicaSet(replicas, { downMs: DOWN_MS });
    });
    const stats = await fetchCollectionStats(single);
    for (const q of queries) {
      const want = await searchShards(single, q, { k: 10, stats, deadlineMs: 1000 });
      // several calls per query: each replica of each shard answers some of them
      for (let rep = 0; rep < 3; rep++) {
        const got = await searchShards(sets, q, { k: 10, stats, deadlineMs: 1000 });
        expect(got.missingShards, `"${q.text}": shard(s) ${got.missingShards.join(', ')} missing though two of three replicas are up: ${got.errors.join('; ')}`).toEqual([]);
        expect(got.text, `"${q.text}": BM25 list differs from one replica per shard`).toEqual(want.text);
        expect(got.dense, `"${q.text}": dense list differs from one replica per shard`).toEqual(want.dense);
      }
    }
  });

  describe.skipIf(name === 'before')('the pick rule', () => {
    it('spreads calls made one at a time evenly over healthy replicas', async () => {
      const fakes = [0, 1, 2].map(fake);
      const set = impl.replicaSet(fakes);
      for (let i = 0; i < 90; i++) await set.call('search', {});
      const got = fakes.map((f) => f.received);
      expect(got, `calls made one at a time went ${got.join(', ')} to the 3 replicas, not 30 each: with nothing in flight every replica is as good, so take them in turn, or the replicas after the first sit idle`).toEqual([30, 30, 30]);
    });

    it('does not hand more calls to a replica with a call stuck in flight while others are idle', async () => {
      const fakes = [0, 1, 2].map(fake);
      const set = impl.replicaSet(fakes);
      fakes[0].mode = 'hang';
      const pending: Promise<unknown>[] = [];
      // until replica 0 has a call in flight
      while (fakes[0].received === 0) {
        pending.push(set.call('search', {}));
        await tick();
      }
      const before = fakes[0].received;
      for (let i = 0; i < 60; i++) {
        pending.push(set.call('search', {}));
        await tick(); // the healthy replicas have answered: only replica 0 has calls in flight
      }
      const more = fakes[0].received - before;
      fakes[0].release();
      await Promise.all(pending);
      expect(more, `replica 0 has a call stuck in flight and was handed ${more} of the next 60 calls while replicas 1 and 2 were idle: the replica with the fewest calls in flight answers first`).toBe(0);
    });

    it('skips a replica marked down until its mark ends, and picks it again after', async () => {
      let now = 0;
      const fakes = [0, 1, 2].map(fake);
      const set = impl.replicaSet(fakes, { downMs: DOWN_MS, now: () => now });
      fakes[1].mode = 'refused';
      for (let i = 0; i < 60; i++) await set.call('search', {});
      expect(
        fakes[1].received,
        `replica 1 was marked down (it answered UNAVAILABLE: connection refused) and was still tried ${fakes[1].received} times in 60 calls within its ${DOWN_MS} ms: a dead replica has nothing in flight, skip it until its mark ends`,
      ).toBeLessThanOrEqual(1);
      fakes[1].mode = 'ok';
      now += DOWN_MS + 1;
      const seen = fakes[1].received;
      for (let i = 0; i < 60; i++) await set.call('search', {});
      const back = fakes[1].received - seen;
      expect(back, `replica 1's down mark ended 1 ms ago and it answers again, but it got ${back} of the next 60 calls: a down mark ends, the replica comes back`).toBeGreaterThanOrEqual(15);
    });

    it('still picks a replica when every one is marked down (a real answer or a real error)', async () => {
      let now = 0;
      const fakes = [0, 1].map(fake);
      const set = impl.replicaSet(fakes, { downMs: DOWN_MS, now: () => now });
      for (const f of fakes) f.mode = 'refused';
      const first = await set.call('search', {}).catch((e: unknown) => e as Error);
      expect(first instanceof Error && /ECONNREFUSED/.test(first.message), `with every replica down the call failed with "${(first as Error).message}", not the replicas' own error`).toBe(true);
      now += 10;
      for (const f of fakes) f.mode = 'ok';
      const r = await set.call('search', {}).catch((e: unknown) => e as Error);
      expect(r instanceof Error ? r.message : 'answered', 'every replica was marked down and the pick chose none: try the one back soonest').toBe('answered');
    });
  });
});
