/**
 * ReplicaSet with fake replicas (in-process RpcClients whose answers the test controls): calls one at a time are
 * spread evenly; a replica with calls stuck in flight is passed over; a replica that answers UNAVAILABLE is skipped
 * for downMs (the call retried on another) and used again after; a write that may have run is not sent twice.
 */
import { describe, expect, it } from 'vitest';
import { ReplicaSet } from './replica-set.ts';
import { isRpcError, RpcError, type RpcClient } from './rpc.ts';

interface Fake extends RpcClient {
  received: number;
  mode: 'ok' | 'refused' | 'reset' | 'hang';
  release(): void;
}

function fake(id: number): Fake {
  let waiting: (() => void)[] = [];
  const f: Fake = {
    target: `fake-${id}`,
    received: 0,
    mode: 'ok',
    async call<Res>(method: string): Promise<Res> {
      f.received++;
      if (f.mode === 'refused') throw new RpcError('UNAVAILABLE', `${method} on fake-${id}: ECONNREFUSED`, f.target);
      if (f.mode === 'reset') throw new RpcError('UNAVAILABLE', `${method} on fake-${id}: ECONNRESET`, f.target);
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

describe('ReplicaSet', () => {
  it('spreads calls made one at a time evenly (least outstanding, ties rotating)', async () => {
    const fakes = [0, 1, 2].map(fake);
    const set = new ReplicaSet(fakes);
    for (let i = 0; i < 90; i++) await set.call('search', {});
    expect(fakes.map((f) => f.received)).toEqual([30, 30, 30]);
  });

  it('passes over a replica whose calls are stuck in flight', async () => {
    const fakes = [0, 1, 2].map(fake);
    fakes[0].mode = 'hang';
    const set = new ReplicaSet(fakes);
    const stuck = set.call('search', {}); // picked first: replica 0
    for (let i = 0; i < 40; i++) expect(await set.call<{ from: number }>('search', {})).not.toEqual({ from: 0 });
    expect(fakes[0].received).toBe(1);
    fakes[0].release();
    await stuck;
  });

  it('skips a replica that answered UNAVAILABLE for downMs, retries the call elsewhere, and uses it again after', async () => {
    let now = 0;
    const fakes = [0, 1, 2].map(fake);
    fakes[1].mode = 'refused';
    const set = new ReplicaSet(fakes, { downMs: 1000, now: () => now });
    for (let i = 0; i < 60; i++) await set.call('search', {});
    expect(fakes[1].received).toBe(1);
    expect(set.stats).toMatchObject({ calls: 60, retries: 1, failed: 0, markedDown: 1 });
    fakes[1].mode = 'ok';
    now += 1001;
    for (let i = 0; i < 60; i++) await set.call('search', {});
    expect(fakes[1].received).toBeGreaterThanOrEqual(20);
  });

  it('does not send a write twice when its connection died mid-call (it may have run)', async () => {
    const fakes = [0, 1].map(fake);
    fakes[0].mode = 'reset';
    const set = new ReplicaSet(fakes);
    const err = await set.call('upsert', {}).catch((e: unknown) => e);
    expect(isRpcError(err, 'UNAVAILABLE')).toBe(true);
    expect(fakes[1].received).toBe(0);
    // a read in the same situation is asked again elsewhere
    const again = [0, 1].map(fake);
    again[0].mode = 'reset';
    expect(await new ReplicaSet(again).call('search', {})).toEqual({ from: 1 });
  });

  it('with every replica down, still tries the one back soonest (a real answer or a real error)', async () => {
    let now = 0;
    const fakes = [0, 1].map(fake);
    for (const f of fakes) f.mode = 'refused';
    const set = new ReplicaSet(fakes, { downMs: 1000, now: () => now });
    await expect(set.call('search', {})).rejects.toThrow(/ECONNREFUSED/);
    now += 10;
    fakes[0].mode = 'ok';
    fakes[1].mode = 'ok';
    expect(await set.call('search', {})).toEqual({ from: 0 });
  });
});
