/**
 * The gateway's write routes without Redis, NATS or processes: a stub queue and stub shards. What is checked here is
 * what an acknowledgement costs in statistics reads when many writes are acknowledged at once while writes keep
 * landing (every read of the statistics sees the shards move on): the acknowledgements share the gateway's one
 * refresh (`statsRefresher`), they do not each run a `refreshStats` loop of their own (up to 20 reads each, in
 * parallel: under load, longer than the client's attempt, so a backlog of completed writes was never acknowledged).
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerWriteRoutes, statsRefresher, type SplitWriteQueue } from './gateway-writes.ts';
import type { RpcClient } from './rpc.ts';

/** Two shards at one version, which moves on while the statistics are read (a write lands during every read). */
function landingShards() {
  let version = 0;
  let reads = 0;
  const shard = (i: number): RpcClient => ({
    target: `stub-shard-${i}`,
    async call<Res>(method: string, req: unknown): Promise<Res> {
      if (method !== 'has') throw new Error(`stub shard: no method ${method}`);
      const ids = (req as { ids: string[] }).ids;
      return { version, present: ids.map(() => false) } as Res;
    },
    async close() {},
  });
  return {
    shards: [shard(0), shard(1)],
    read: async () => {
      reads++;
      await new Promise((r) => setTimeout(r, 5));
      version++; // a write landed on both shards meanwhile
    },
    get reads() {
      return reads;
    },
    land: () => ++version,
  };
}

describe('write acknowledgements and the statistics refresh', () => {
  it('N writes acknowledged at once share the statistics reads (a few in all, not a refresh loop each)', async () => {
    const s = landingShards();
    const N = 12;
    // a queue whose jobs complete at once (each write lands on the shards before its job completes)
    const queue = { submit: async () => ({ version: s.land(), ops: 1, duplicate: false, documents: 1, chunks: 1 }) } as unknown as SplitWriteQueue;
    const app = Fastify();
    registerWriteRoutes(app, { queue, shards: s.shards, readStats: s.read }); // the routes' own refresher
    try {
      const readsBefore: number[] = [];
      const replies = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const r = await app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: [{ id: `doc-${i}`, text: `word${i} report` }] } });
          readsBefore.push(s.reads);
          return r;
        }),
      );
      expect(replies.map((r) => r.statusCode)).toEqual(Array(N).fill(200));
      // every acknowledgement waited for a read of its own (one started after its job completed) …
      expect(Math.min(...readsBefore)).toBeGreaterThanOrEqual(1);
      // … but they shared them: all N answered within a few reads, where a loop per write made ≥ N·2 (20 each here)
      expect(Math.max(...readsBefore), `statistics reads before the last of ${N} acknowledgements`).toBeLessThanOrEqual(4);
    } finally {
      // the refresh still running in the background stops once it had a read with the shards steady (≤ 20 reads)
      for (let last = -1; last !== s.reads; ) {
        last = s.reads;
        await new Promise((r) => setTimeout(r, 50));
      }
      await app.close();
    }
  });

  it('fresh() resolves only after a read that started after it was asked for', async () => {
    let started = 0;
    let release: (() => void) | undefined;
    const read = () => {
      started++;
      return new Promise<void>((r) => (release = r));
    };
    const stub: RpcClient = { target: 's', call: async <Res>() => ({ version: 0, present: [] }) as Res, close: async () => {} };
    const refresher = statsRefresher([stub], read);
    const first = refresher.fresh();
    await new Promise((r) => setTimeout(r, 20));
    expect(started).toBe(1); // the first read runs
    let secondDone = false;
    const second = refresher.fresh().then(() => (secondDone = true));
    release!(); // the first read ends: it started before `second` asked
    await first;
    await new Promise((r) => setTimeout(r, 20));
    expect(secondDone).toBe(false);
    expect(started).toBeGreaterThanOrEqual(2); // a second read started for it
    release!();
    await second;
    expect(secondDone).toBe(true);
    release!();
    await refresher.settled();
  });
});
