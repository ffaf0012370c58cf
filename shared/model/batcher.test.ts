/**
 * DynamicBatcher (shared/model/batcher.ts): the engine's dynamic batcher, tested on a fake batch function that
 * records its batches, on vitest's fake clock (nothing timed). T3 lesson 08's checkpoint tests the same contract
 * through the lesson's after.ts; this file pins down the options and edge cases the engine relies on.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isRagError } from '../errors.ts';
import { expectRagError } from '../util/expect-rag-error.ts';
import { DEFAULT_BUCKETS, DynamicBatcher, tokenCount, type DynamicBatcherOptions } from './batcher.ts';

interface Req {
  id: number;
  tokens: number;
}

/** Records batches (ids) and when they ran; `hold` keeps each run pending until released (a busy model). */
function fake(opts: { hold?: boolean; fail?: (ids: number[]) => boolean } = {}) {
  const batches: number[][] = [];
  const at: number[] = [];
  const release: Array<() => void> = [];
  const run = async (items: Req[]) => {
    const ids = items.map((r) => r.id);
    batches.push(ids);
    at.push(Date.now());
    if (opts.hold) await new Promise<void>((r) => release.push(r));
    if (opts.fail?.(ids)) throw new Error('run failed');
    return ids.map((id) => id * 10);
  };
  return { batches, at, release, run };
}

function batcher(run: (items: Req[]) => Promise<number[]>, opts: DynamicBatcherOptions<Req> = {}) {
  return new DynamicBatcher<Req, number>(run, opts);
}

const flushAll = () => vi.advanceTimersByTimeAsync(0);

afterEach(() => {
  vi.useRealTimers();
});

describe('DynamicBatcher', () => {
  it('documents its defaults: 32 items, 2 ms, 16,384 padded tokens, DEFAULT_BUCKETS, one batch in flight', () => {
    const b = new DynamicBatcher(async (xs: number[][]) => xs.map(() => 0));
    expect([b.maxBatch, b.maxWaitMs, b.maxTokens, b.maxInFlight]).toEqual([32, 2, 16_384, 1]);
    expect(b.buckets).toEqual(DEFAULT_BUCKETS);
    expect(new DynamicBatcher(async (xs: number[][]) => xs, { buckets: false }).buckets).toEqual([]);
  });

  it('rejects bad options with a RagError', () => {
    const run = async (xs: Req[]) => xs.map(() => 0);
    expectRagError(() => batcher(run, { maxBatch: 0 }), /maxBatch/);
    expectRagError(() => batcher(run, { maxBatch: 1.5 }), /maxBatch/);
    expectRagError(() => batcher(run, { maxWaitMs: -1 }), /maxWaitMs/);
    expectRagError(() => batcher(run, { maxWaitMs: NaN }), /maxWaitMs/);
    expectRagError(() => batcher(run, { maxTokens: 0 }), /maxTokens/);
    expectRagError(() => batcher(run, { maxInFlight: 0 }), /maxInFlight/);
    expectRagError(() => batcher(run, { buckets: [16, 8] }), /buckets/);
    expectRagError(() => batcher(run, { buckets: [0, 8] }), /buckets/);
  });

  it('measures token-id lists, { tokens: count }, { tokens: list }, and anything tokensOf measures', async () => {
    expect(tokenCount([1, 2, 3])).toBe(3);
    expect(tokenCount(new Int32Array(5))).toBe(5);
    expect(tokenCount({ tokens: 7 })).toBe(7);
    expect(tokenCount({ tokens: [4, 5] })).toBe(2);
    expectRagError(() => tokenCount(42), /token-id list/);
    const b = new DynamicBatcher<string, number>(async (xs) => xs.map((x) => x.length), { tokensOf: (s) => s.split(' ').length, maxWaitMs: 0 });
    expect(await Promise.all([b.embed('a b c'), b.embed('dd')])).toEqual([5, 2]);
    await b.close();
  });

  it('rejects an item it cannot measure, or with a bad count, alone: the others are served', async () => {
    const b = new DynamicBatcher<unknown, number>(async (xs) => xs.map(() => 1), { maxWaitMs: 0 });
    const got = await Promise.allSettled([b.embed([1, 2]), b.embed(42), b.embed({ tokens: -1 }), b.embed({ tokens: 2.5 })]);
    expect(got[0]).toEqual({ status: 'fulfilled', value: 1 });
    for (const r of got.slice(1)) expect(r.status === 'rejected' && isRagError(r.reason, 'INVALID_INPUT')).toBe(true);
    await b.close();
  });

  it('runs one batch at a time by default; requests that arrive meanwhile form the next batch, started when it ends', async () => {
    vi.useFakeTimers();
    const f = fake({ hold: true });
    const b = batcher(f.run, { maxWaitMs: 0 });
    const p = [b.embed({ id: 1, tokens: 10 })];
    await flushAll();
    expect(f.batches).toEqual([[1]]);
    for (let id = 2; id <= 6; id++) p.push(b.embed({ id, tokens: 10 }));
    await vi.advanceTimersByTimeAsync(50);
    expect(b.inFlight).toBe(1);
    expect(b.pending).toBe(5);
    expect(f.batches, 'nothing starts while the model is busy').toEqual([[1]]);
    f.release.shift()!();
    await flushAll();
    expect(f.batches).toEqual([[1], [2, 3, 4, 5, 6]]);
    f.release.shift()!();
    expect(await Promise.all(p)).toEqual([10, 20, 30, 40, 50, 60]);
    await b.close();
  });

  it('runs up to maxInFlight batches at once', async () => {
    vi.useFakeTimers();
    const f = fake({ hold: true });
    const b = batcher(f.run, { maxWaitMs: 0, maxInFlight: 2, maxBatch: 2 });
    const p = [1, 2, 3, 4, 5].map((id) => b.embed({ id, tokens: 10 }));
    await flushAll();
    expect(f.batches).toEqual([[1, 2], [3, 4]]);
    expect(b.inFlight).toBe(2);
    f.release.shift()!();
    await flushAll();
    expect(f.batches).toEqual([[1, 2], [3, 4], [5]]);
    while (f.release.length) f.release.shift()!();
    await flushAll();
    f.release.shift()?.();
    expect(await Promise.all(p)).toEqual([10, 20, 30, 40, 50]);
    await b.close();
  });

  it('batches by length bucket, starts a full bucket at once, and the oldest request when it is due', async () => {
    vi.useFakeTimers();
    const f = fake();
    const t0 = Date.now();
    const b = batcher(f.run, { maxBatch: 3, maxWaitMs: 10, buckets: [16, 64] });
    void b.embed({ id: 1, tokens: 50 }); // bucket ≤64, alone
    void b.embed({ id: 2, tokens: 5 });
    void b.embed({ id: 3, tokens: 100 }); // beyond the last bound: its own bucket
    void b.embed({ id: 4, tokens: 12 });
    await flushAll();
    expect(f.batches, 'no bucket is full yet').toEqual([]);
    void b.embed({ id: 5, tokens: 16 }); // fills the ≤16 bucket (3 items)
    await flushAll();
    expect(f.batches).toEqual([[2, 4, 5]]);
    await vi.advanceTimersByTimeAsync(10);
    expect(f.batches, 'once due, the oldest request first, then the next-oldest').toEqual([[2, 4, 5], [1], [3]]);
    expect(f.at.map((t) => t - t0)).toEqual([0, 10, 10]);
    await b.close();
  });

  it('keeps every batch within maxTokens padded tokens; a longer item runs alone; counts real and padded tokens', async () => {
    vi.useFakeTimers();
    const f = fake();
    const b = batcher(f.run, { maxWaitMs: 1, maxTokens: 100, buckets: false });
    const lens = [10, 30, 20, 40, 150, 5];
    void Promise.all(lens.map((tokens, id) => b.embed({ id, tokens })));
    await vi.advanceTimersByTimeAsync(5);
    // FIFO with a budget of 100: [10, 30, 20] = 3 × 30 = 90; + 40 would be 160. [40] + 150 > 100. [150] alone. [5]
    expect(f.batches).toEqual([[0, 1, 2], [3], [4], [5]]);
    expect(b.stats).toMatchObject({ batches: 4, items: 6, realTokens: 255, paddedTokens: 90 + 40 + 150 + 5 });
    await b.close();
  });

  it('counts an empty item as one token, so an all-empty batch still has a shape', async () => {
    vi.useFakeTimers();
    const f = fake();
    const b = batcher(f.run, { maxWaitMs: 0 });
    void b.embed({ id: 1, tokens: 0 });
    await flushAll();
    expect(b.stats).toMatchObject({ realTokens: 1, paddedTokens: 1 });
    await b.close();
  });

  it('moves the timer to the next oldest request when the oldest is aborted', async () => {
    vi.useFakeTimers();
    const f = fake();
    const t0 = Date.now();
    const b = batcher(f.run, { maxWaitMs: 5 });
    const ac = new AbortController();
    void b.embed({ id: 1, tokens: 10 }, { signal: ac.signal }).catch(() => {});
    await vi.advanceTimersByTimeAsync(3);
    void b.embed({ id: 2, tokens: 100 });
    await vi.advanceTimersByTimeAsync(1);
    ac.abort();
    await vi.advanceTimersByTimeAsync(10);
    expect(f.batches).toEqual([[2]]);
    expect(f.at[0] - t0, 'request 2 arrived at 3 ms: due at 8 ms').toBe(8);
    expect(b.stats.aborted).toBe(1);
    await b.close();
  });

  it('rejects a request aborted while its batch runs at once with an AbortError (cause: the reason); the others get their rows', async () => {
    vi.useFakeTimers();
    const f = fake({ hold: true });
    const b = batcher(f.run, { maxWaitMs: 0 });
    const ac = new AbortController();
    const a = b.embed({ id: 1, tokens: 10 }, { signal: ac.signal });
    const c = b.embed({ id: 2, tokens: 10 });
    const aSettled = Promise.allSettled([a]);
    await flushAll();
    expect(f.batches).toEqual([[1, 2]]);
    ac.abort(new Error('client went away'));
    const [ra] = await aSettled;
    expect(ra.status).toBe('rejected');
    const reason = (ra as PromiseRejectedResult).reason as DOMException;
    expect(reason.name).toBe('AbortError');
    expect((reason.cause as Error).message).toBe('client went away');
    f.release.shift()!();
    expect(await c).toBe(20);
    expect(b.stats.aborted).toBe(1);
    await b.close();
  });

  it('rejects every caller of a run that returns the wrong number of outputs, counts it, and keeps serving', async () => {
    let calls = 0;
    const b = new DynamicBatcher<number[], number>(async (xs) => (calls++ === 0 ? xs.slice(1).map(() => 1) : xs.map(() => 2)), { maxWaitMs: 0 });
    const got = await Promise.allSettled([b.embed([1]), b.embed([2]), b.embed([3])]);
    for (const r of got) expect(r.status === 'rejected' && /returned 2 outputs for 3 items/.test(String((r as PromiseRejectedResult).reason))).toBe(true);
    expect(b.stats.failedBatches).toBe(1);
    expect(await b.embed([4])).toBe(2);
    await b.close();
  });

  it('isolates a failing run: only its callers are rejected', async () => {
    vi.useFakeTimers();
    const f = fake({ fail: (ids) => ids.includes(2) });
    const b = batcher(f.run, { maxWaitMs: 1, maxBatch: 2 });
    const p = Promise.allSettled([1, 2, 3, 4].map((id) => b.embed({ id, tokens: 8 })));
    await vi.advanceTimersByTimeAsync(5);
    expect((await p).map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    await b.close();
  });

  it('close() drains (even with maxWaitMs Infinity), waits for runs in flight, then refuses with UNAVAILABLE', async () => {
    vi.useFakeTimers();
    const f = fake({ hold: true });
    const b = batcher(f.run, { maxWaitMs: Infinity, maxBatch: 2 });
    const p = [1, 2, 3].map((id) => b.embed({ id, tokens: 8 }));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.batches, 'with maxWaitMs Infinity only a full batch starts').toEqual([[1, 2]]);
    let closed = false;
    const done = b.close().then(() => (closed = true));
    expect(b.closed).toBe(true);
    await expect(b.embed({ id: 9, tokens: 1 })).rejects.toSatisfy((e: unknown) => isRagError(e, 'UNAVAILABLE'));
    f.release.shift()!();
    await flushAll();
    expect(f.batches).toEqual([[1, 2], [3]]);
    expect(closed, 'close() waits for the last run').toBe(false);
    f.release.shift()!();
    await done;
    expect(await Promise.all(p)).toEqual([10, 20, 30]);
    expect([b.pending, b.inFlight]).toEqual([0, 0]);
  });
});
