/** The bulkhead: never more than maxConcurrent calls in flight, refuses at once beyond its queue, hands a queued call only the budget left. */
import { describe, expect, it } from 'vitest';
import { isBulkheadFull, withBulkhead } from './bulkhead.ts';
import type { CallOptions, RpcClient } from './rpc.ts';

function slowUpstream() {
  const sent: Array<number | undefined> = [];
  const pending: Array<() => void> = [];
  let inFlight = 0;
  let most = 0;
  const client: RpcClient = {
    target: 'http://slow',
    call: async <Res>(_m: string, _r: unknown, o: CallOptions = {}): Promise<Res> => {
      sent.push(o.deadlineMs);
      most = Math.max(most, ++inFlight);
      await new Promise<void>((r) => pending.push(r));
      inFlight--;
      return 'ok' as Res;
    },
    close: async () => {},
  };
  return { client, sent, pending, most: () => most };
}

describe('withBulkhead', () => {
  it('holds at most maxConcurrent in flight and refuses beyond the queue at once', async () => {
    const up = slowUpstream();
    const b = withBulkhead(up.client, { maxConcurrent: 2, maxQueue: 1 });
    const calls = Array.from({ length: 5 }, () => b.call('search', {}).then(() => 'ok', (e: unknown) => e));
    await new Promise((r) => setImmediate(r));
    expect(b.counts.inFlight).toBe(2);
    expect(b.counts.queued).toBe(1);
    expect(b.counts.rejected).toBe(2);
    while (up.pending.length > 0 || b.counts.inFlight > 0) {
      up.pending.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    const out = await Promise.all(calls);
    expect(out.filter((o) => o === 'ok')).toHaveLength(3);
    expect(out.filter((o) => isBulkheadFull(o))).toHaveLength(2);
    expect(up.most()).toBe(2);
    expect(b.counts.maxInFlight).toBe(2);
  });

  it('a queued call is sent with the budget left after its wait, and refused when it runs out in the queue', async () => {
    const up = slowUpstream();
    let t = 0;
    const b = withBulkhead(up.client, { maxConcurrent: 1, maxQueue: 2, now: () => t });
    const first = b.call('search', {}, { deadlineMs: 1000 });
    const second = b.call('search', {}, { deadlineMs: 500 });
    await new Promise((r) => setImmediate(r));
    t = 200; // the first call took 200 ms
    up.pending.shift()!();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(up.sent).toEqual([1000, 300]);
    up.pending.shift()!();
    await second;
  });
});
