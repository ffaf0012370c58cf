/**
 * InferenceQueue: what the engine relies on beyond T3 lesson 12's checkpoint (which pins priority, splitting, bounds,
 * deadlines and error routing through the lesson's interface). The model here is a fake whose runs finish when the
 * test says; nothing is timed except the one real `timeoutMs` backstop.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { InferenceQueue, QueueAbortError, QueueFullError, queueErrorStatus, type InferenceQueueOptions, type Priority } from './inference-queue.ts';

const flush = () => new Promise<void>((r) => setImmediate(r));

function fakeModel() {
  const calls: Array<{ items: string[]; priority: Priority }> = [];
  const open: Array<{ resolve: (out: string[]) => void; reject: (e: unknown) => void; items: string[] }> = [];
  return {
    calls,
    open,
    run: (items: string[], info: { priority: Priority }) => {
      calls.push({ items: [...items], priority: info.priority });
      return new Promise<string[]>((resolve, reject) => open.push({ resolve, reject, items: [...items] }));
    },
    async finishOne(out?: (items: string[]) => string[]) {
      const o = open.shift()!;
      o.resolve(out ? out(o.items) : o.items.map((x) => `out:${x}`));
      await flush();
    },
    async finishAll() {
      await flush();
      while (open.length > 0) await this.finishOne();
    },
  };
}

const items = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}.${i}`);

function settledState<T>(p: Promise<T>) {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (v) => Object.assign(s, { done: true, value: v }),
    (e: unknown) => Object.assign(s, { done: true, error: e }),
  );
  return s;
}

function make(opts: Partial<InferenceQueueOptions<string, string>> = {}) {
  const model = fakeModel();
  const queue = new InferenceQueue<string, string>({ run: model.run, ...opts });
  return { model, queue };
}

describe('InferenceQueue', () => {
  it('refuses bad options and bad submissions with INVALID_INPUT', async () => {
    const run = async (x: string[]) => x;
    expect(() => new InferenceQueue({ run, concurrency: 0 })).toThrow(/concurrency must be an integer ≥ 1/);
    expect(() => new InferenceQueue({ run, maxBatch: { bulk: 2.5 } })).toThrow(/maxBatch.bulk/);
    expect(() => new InferenceQueue({ run, maxQueued: { interactive: -1 } })).toThrow(/maxQueued.interactive/);
    expect(() => new InferenceQueue({} as InferenceQueueOptions<string, string>)).toThrow(/run must be a function/);
    const q = new InferenceQueue({ run, maxQueued: { bulk: 10 } });
    const big = await q.submit(items('b', 11), { priority: 'bulk' }).catch((e: unknown) => e);
    expect(isRagError(big, 'INVALID_INPUT') && /can never fit its queue \(bound 10 items\): split it/.test((big as Error).message)).toBe(true);
    const bad = await q.submit(['x'], { priority: 'urgent' as Priority }).catch((e: unknown) => e);
    expect(isRagError(bad, 'INVALID_INPUT')).toBe(true);
    expect(await q.submit([], { priority: 'bulk' })).toEqual([]);
  });

  it('coalesces the interactive submissions of one tick into one run, up to maxBatch', async () => {
    const { model, queue } = make({ maxBatch: { interactive: 4 } });
    const ps = [1, 2, 3, 4, 5].map((k) => queue.submit([`i${k}`], { priority: 'interactive' }));
    await model.finishAll();
    expect(model.calls.map((c) => c.items.length)).toEqual([4, 1]);
    expect(await Promise.all(ps)).toEqual([['out:i1'], ['out:i2'], ['out:i3'], ['out:i4'], ['out:i5']]);
  });

  it('runs `concurrency` batches at once', async () => {
    const { model, queue } = make({ concurrency: 2, maxBatch: { bulk: 4 } });
    const p = queue.submit(items('b', 16), { priority: 'bulk' });
    await flush();
    expect(model.open.length).toBe(2);
    expect(queue.stats().running).toBe(2);
    expect(queue.stats().queued.bulk).toBe(8);
    await model.finishAll();
    expect((await p).length).toBe(16);
  });

  it('gives bulk one run in every bulkEvery + 1 while interactive work keeps arriving', async () => {
    const { model, queue } = make({ bulkEvery: 2, maxBatch: { interactive: 1, bulk: 1 } });
    const ps = [queue.submit(items('b', 3), { priority: 'bulk' })];
    for (let k = 0; k < 6; k++) ps.push(queue.submit([`i${k}`], { priority: 'interactive' }));
    await model.finishAll();
    await Promise.all(ps);
    expect(model.calls.map((c) => c.priority[0]).join('')).toBe('iibiibiib');
  });

  it('is strict priority by default: bulk waits while interactive work is queued', async () => {
    const { model, queue } = make({ maxBatch: { interactive: 1, bulk: 1 } });
    const ps = [queue.submit(items('b', 2), { priority: 'bulk' })];
    for (let k = 0; k < 4; k++) ps.push(queue.submit([`i${k}`], { priority: 'interactive' }));
    await model.finishAll();
    await Promise.all(ps);
    expect(model.calls.map((c) => c.priority[0]).join('')).toBe('iiiibb');
  });

  it('sheds with a QueueFullError: OVERLOADED, 503, a Retry-After of at least the floor', async () => {
    const { model, queue } = make({ maxQueued: { bulk: 8 }, retryAfterSeconds: 2 });
    const first = queue.submit(items('a', 8), { priority: 'bulk' });
    await flush(); // running: not waiting
    const second = queue.submit(items('b', 8), { priority: 'bulk' });
    const err = await queue.submit(['c.0'], { priority: 'bulk' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    const e = err as QueueFullError;
    expect([e.code, e.priority, e.retryAfterSeconds >= 2 && e.retryAfterSeconds <= 60]).toEqual(['OVERLOADED', 'bulk', true]);
    expect(e.message).toMatch(/the bulk model queue is full \(8 of 8 items waiting, 1 more asked\)/);
    expect(queueErrorStatus(e)).toEqual({ status: 503, headers: { 'retry-after': String(e.retryAfterSeconds) } });
    expect(queue.stats().shed).toEqual({ interactive: 0, bulk: 1 });
    await model.finishAll();
    await Promise.all([first, second]);
  });

  it('applies timeoutMs as a backstop deadline: DEADLINE_EXCEEDED (504), out of the queue, never run', async () => {
    const { model, queue } = make({ timeoutMs: { interactive: 15 } });
    const busy = queue.submit(items('b', 8), { priority: 'bulk' });
    await flush();
    const err = await queue.submit(['t'], { priority: 'interactive' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueAbortError);
    expect((err as QueueAbortError).code).toBe('DEADLINE_EXCEEDED');
    expect((err as QueueAbortError).message).toMatch(/interactive request: its deadline passed after \d+ ms before it reached the model/);
    expect(queueErrorStatus(err)).toEqual({ status: 504, headers: {} });
    expect(queue.stats().queued.interactive).toBe(0);
    expect(queue.stats().timedOut.interactive).toBe(1);
    await model.finishAll();
    await busy;
    expect(model.calls.some((c) => c.items.includes('t'))).toBe(false);
  });

  it("rejects with ABORTED when the caller's signal fires for another reason, and drops the listener once settled", async () => {
    const { model, queue } = make();
    const c = new AbortController();
    const p = settledState(queue.submit(['x'], { priority: 'bulk', signal: c.signal }));
    await flush(); // x runs
    c.abort(new Error('client went away'));
    await flush();
    expect(p.done).toBe(true);
    expect(isRagError(p.error, 'ABORTED')).toBe(true);
    expect((p.error as QueueAbortError).chunksRunning).toBe(1);
    expect(queueErrorStatus(p.error)?.status).toBe(499);
    await model.finishAll();
    expect(queue.stats().aborted.bulk).toBe(1);

    const kept = new AbortController();
    const q2 = make({ timeoutMs: { interactive: 0 } });
    const r = q2.queue.submit(['y'], { priority: 'interactive', signal: kept.signal });
    expect(getEventListeners(kept.signal, 'abort').length).toBe(1);
    await q2.model.finishAll();
    expect(await r).toEqual(['out:y']);
    expect(getEventListeners(kept.signal, 'abort').length).toBe(0);
  });

  it('fails a run whose output count is wrong with MODEL_FAILED, and a run that throws synchronously', async () => {
    const { model, queue } = make();
    const p = settledState(queue.submit(items('a', 3), { priority: 'bulk' }));
    await flush();
    await model.finishOne(() => ['only one']);
    expect(isRagError(p.error, 'MODEL_FAILED')).toBe(true);
    expect(queue.stats().failed.bulk).toBe(1);
    const boom = new Error('sync boom');
    const q = new InferenceQueue<string, string>({
      run: () => {
        throw boom;
      },
    });
    await expect(q.submit(['x'], { priority: 'interactive' })).rejects.toBe(boom);
    expect(q.stats().running).toBe(0);
  });

  it('close() drains by default and refuses new work with SHUTTING_DOWN (503)', async () => {
    const { model, queue } = make();
    const a = queue.submit(items('a', 12), { priority: 'bulk' });
    const closed = settledState(queue.close());
    const late = await queue.submit(['z'], { priority: 'interactive' }).catch((e: unknown) => e);
    expect(isRagError(late, 'SHUTTING_DOWN')).toBe(true);
    expect(queueErrorStatus(late)?.status).toBe(503);
    await flush();
    expect(closed.done).toBe(false);
    await model.finishAll();
    expect((await a).length).toBe(12);
    await flush();
    expect(closed.done).toBe(true);
  });

  it('close({ drain: false }) rejects what waits and resolves once the running batch is done', async () => {
    const { model, queue } = make();
    const a = settledState(queue.submit(items('a', 8), { priority: 'bulk' }));
    await flush(); // a runs
    const b = settledState(queue.submit(items('b', 8), { priority: 'bulk' }));
    const closed = settledState(queue.close({ drain: false }));
    await flush();
    expect(isRagError(b.error, 'SHUTTING_DOWN')).toBe(true);
    expect(closed.done).toBe(false);
    await model.finishAll();
    await flush();
    expect(a.value?.length).toBe(8);
    expect(closed.done).toBe(true);
    expect(model.calls.length).toBe(1);
  });

  it('counts what happened', async () => {
    const { model, queue } = make({ maxQueued: { interactive: 1 } });
    const ps = [queue.submit(items('b', 20), { priority: 'bulk' }), queue.submit(['i'], { priority: 'interactive' })];
    const shed = queue.submit(['j'], { priority: 'interactive' }).catch((e: unknown) => e);
    await model.finishAll();
    await Promise.all(ps);
    await shed;
    const s = queue.stats();
    expect(s.queuedPeak).toEqual({ interactive: 1, bulk: 20 });
    expect(s.runs).toEqual({ interactive: 1, bulk: 3 });
    expect(s.itemsRun).toEqual({ interactive: 1, bulk: 20 });
    expect([s.accepted, s.completed, s.shed]).toEqual([
      { interactive: 1, bulk: 1 },
      { interactive: 1, bulk: 1 },
      { interactive: 1, bulk: 0 },
    ]);
  });
});
