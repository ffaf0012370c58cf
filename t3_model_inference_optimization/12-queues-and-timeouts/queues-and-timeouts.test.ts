/**
 * Checkpoint for 12-queues-and-timeouts. `npm run checkpoint -- 12-queues-and-timeouts` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (one FIFO: only "every request answered once with its own outputs" and "a
 * model error rejects the right requests" apply) and after.ts.
 *
 * The model is a fake whose runs finish only when the test says so (`finishOne`, `finishAll`): every run it was
 * asked for is logged with its items, so what is checked is counted, never timed: which run went first, how many
 * items each run carried, how many items wait in each queue after each step, which items the model saw, and what
 * every request was answered with. Deadlines are `AbortController`s aborted with a TimeoutError (what
 * `AbortSignal.timeout` fires), plus one real `AbortSignal.timeout(10)`. Items are strings ('b1.7': request b1's
 * item 7); the model answers 'out:<item>'.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { isRagError } from '../../shared/errors.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { Priority, QueueOptions } from './after.ts';

type Mod = typeof import('./after.ts');

interface Call {
  items: string[];
  priority: Priority | undefined;
}

/** Lets every pending callback (promise chains, queueMicrotask) run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** A model whose runs finish when told; `fail(items)` picks the error a run ends with (default: none). */
function fakeModel(fail: (items: string[]) => Error | undefined = () => undefined) {
  const calls: Call[] = [];
  const open: Array<{ items: string[]; resolve: () => void; reject: (e: Error) => void }> = [];
  const run = (items: string[], info?: { priority: Priority }): Promise<string[]> => {
    const copy = [...items];
    calls.push({ items: copy, priority: info?.priority });
    return new Promise((resolve, reject) => open.push({ items: copy, resolve: () => resolve(copy.map((x) => `out:${x}`)), reject }));
  };
  return {
    calls,
    run,
    get busy() {
      return open.length;
    },
    /** Finishes the oldest run in progress (as the model's error if `fail` says so). */
    async finishOne(): Promise<void> {
      const o = open.shift();
      if (!o) throw new Error('finishOne: no run in progress');
      const err = fail(o.items);
      if (err) o.reject(err);
      else o.resolve();
      await flush();
    },
    /** Finishes runs until none is in progress and none starts. */
    async finishAll(): Promise<void> {
      await flush();
      for (let k = 0; open.length > 0; k++) {
        if (k > 100_000) throw new Error('finishAll: the queue never stops starting runs');
        await this.finishOne();
      }
    },
    /** How many times the model saw each item. */
    seen(): Map<string, number> {
      const m = new Map<string, number>();
      for (const c of calls) for (const x of c.items) m.set(x, (m.get(x) ?? 0) + 1);
      return m;
    },
  };
}

interface Tracked {
  name: string;
  items: string[];
  settled: number;
  value?: string[];
  error?: unknown;
}

/** `n` items of request `name`: 'name.0' … */
const itemsOf = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}.${i}`);

function track(name: string, items: string[], p: Promise<string[]>): Tracked {
  const t: Tracked = { name, items, settled: 0 };
  p.then(
    (v) => {
      t.settled++;
      t.value = v;
    },
    (e: unknown) => {
      t.settled++;
      t.error = e;
    },
  );
  return t;
}

/** A deadline that has passed: what `AbortSignal.timeout(ms)` fires with. */
function expire(c: AbortController): void {
  c.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
}

const describeErr = (e: unknown) => (isRagError(e) ? `RagError '${e.code}': ${e.message}` : String(e));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  function setup(opts: Partial<QueueOptions<string, string>> = {}, fail?: (items: string[]) => Error | undefined) {
    const model = fakeModel(fail);
    const queue = impl.createQueue<string, string>({
      run: model.run,
      maxBatch: { interactive: 8, bulk: 8 },
      maxQueued: { interactive: 16, bulk: 128 },
      ...opts,
    });
    const submit = (req: string, n: number, priority: Priority, signal?: AbortSignal) => {
      const items = itemsOf(req, n);
      return track(req, items, queue.submit(items, { priority, signal }));
    };
    return { model, queue, submit };
  }

  it('answers every request exactly once with its own outputs in order, and runs every item once', async () => {
    const { model, submit } = setup();
    const reqs: Tracked[] = [];
    for (let k = 0; k < 4; k++) {
      reqs.push(submit(`b${k}`, 20, 'bulk'));
      await flush();
      reqs.push(submit(`i${2 * k}`, 1 + (k % 3), 'interactive'), submit(`i${2 * k + 1}`, 1, 'interactive'));
      if (model.busy > 0) await model.finishOne();
    }
    await model.finishAll();
    await flush();
    const seen = model.seen();
    for (const r of reqs) {
      expect(r.settled, `request ${r.name} was never answered: lost in the queue`).toBe(1);
      expect(r.error, `request ${r.name} failed: ${describeErr(r.error)}`).toBeUndefined();
      expect(r.value, `request ${r.name} got other outputs than its own, in order`).toEqual(r.items.map((x) => `out:${x}`));
      for (const x of r.items) expect(seen.get(x) ?? 0, `item ${x} ran ${seen.get(x) ?? 0} times on the model, not once`).toBe(1);
    }
  });

  it('rejects with the model error exactly the requests that had items in the failed run', async () => {
    const boom = new Error('model exploded on p.3');
    const { model, submit } = setup({}, (items) => (items.includes('p.3') ? boom : undefined));
    const reqs = [submit('b0', 8, 'bulk')];
    await flush();
    reqs.push(submit('p', 10, 'bulk'), submit('i0', 1, 'interactive'), submit('i1', 2, 'interactive'), submit('b1', 8, 'bulk'));
    await model.finishAll();
    await flush();
    const failedRuns = model.calls.filter((c) => c.items.includes('p.3'));
    expect(failedRuns.length, "the item 'p.3' never reached the model").toBeGreaterThan(0);
    const inFailed = new Set(failedRuns.flatMap((c) => c.items.map((x) => x.split('.')[0])));
    for (const r of reqs) {
      expect(r.settled, `request ${r.name} was never answered`).toBe(1);
      if (inFailed.has(r.name)) {
        expect(r.error, `request ${r.name} had items in the run that failed but was answered ${r.error ? describeErr(r.error) : 'with outputs'}`).toBe(boom);
      } else {
        expect(r.error, `request ${r.name} had no item in the failed run but was rejected: ${describeErr(r.error)}`).toBeUndefined();
        expect(r.value).toEqual(r.items.map((x) => `out:${x}`));
      }
    }
  });

  describe.skipIf(name === 'before')('priority, bounds and deadlines', () => {
    it('lets interactive requests overtake queued bulk work: only the bulk run in progress goes first', async () => {
      const { model, submit } = setup();
      submit('B', 40, 'bulk');
      await flush();
      const inter = [submit('i0', 1, 'interactive'), submit('i1', 1, 'interactive'), submit('i2', 1, 'interactive')];
      await model.finishAll();
      const first = model.calls.findIndex((c) => c.items.some((x) => x.startsWith('i')));
      const last = model.calls.findLastIndex((c) => c.items.some((x) => x.startsWith('i')));
      expect(first, 'no interactive item reached the model').toBeGreaterThanOrEqual(0);
      expect(
        first,
        `the first interactive request ran after ${first} bulk runs: ${first - 1} queued bulk runs went ahead of it (only the bulk run already in progress when it arrived may)`,
      ).toBeLessThanOrEqual(1);
      const bulkBetween = model.calls.slice(first, last + 1).filter((c) => c.items.some((x) => x.startsWith('B'))).length;
      expect(bulkBetween, `${bulkBetween} queued bulk runs went ahead of the last interactive request`).toBe(0);
      for (const r of inter) expect(r.value, `${r.name}: ${describeErr(r.error)}`).toEqual(r.items.map((x) => `out:${x}`));
    });

    it('splits bulk work into runs of at most maxBatch items (bounded head-of-line blocking)', async () => {
      const { model, submit } = setup({ maxBatch: { interactive: 4, bulk: 8 } });
      submit('B', 40, 'bulk');
      for (let k = 0; k < 6; k++) submit(`i${k}`, 3, 'interactive');
      submit('C', 13, 'bulk');
      await model.finishAll();
      for (const c of model.calls) {
        const bulk = c.items.some((x) => !x.startsWith('i'));
        const bound = bulk ? 8 : 4;
        expect(
          c.items.length,
          `a ${bulk ? 'bulk' : 'interactive'} run of ${c.items.length} items, bound ${bound} (maxBatch.${bulk ? 'bulk' : 'interactive'}): an interactive request arriving now waits for all of it`,
        ).toBeLessThanOrEqual(bound);
        if (!bulk) continue;
        const mixed = c.items.some((x) => x.startsWith('i'));
        expect(mixed, 'a run mixed interactive and bulk items').toBe(false);
      }
    });

    it('gives each priority its own bound: a full bulk queue never sheds interactive requests', async () => {
      const { model, queue, submit } = setup({ maxQueued: { interactive: 4, bulk: 16 } });
      submit('b0', 8, 'bulk');
      await flush();
      // flood bulk until it is refused
      for (let k = 1; k < 50; k++) {
        const r = submit(`b${k}`, 4, 'bulk');
        await flush();
        if (r.error !== undefined) break;
      }
      const bulkWaiting = queue.stats().queued.bulk;
      const inter: Tracked[] = [];
      for (let k = 0; k < 6; k++) {
        inter.push(submit(`i${k}`, 1, 'interactive'));
        await flush();
      }
      for (let k = 0; k < 4; k++) {
        expect(
          inter[k].error,
          `interactive request i${k} shed while its own queue had ${k} of 4 items waiting (${bulkWaiting} bulk items waiting): ${describeErr(inter[k].error)}`,
        ).toBeUndefined();
      }
      const q = queue.stats().queued.interactive;
      expect(q, `${q} interactive items waiting, bound 4`).toBeLessThanOrEqual(4);
      expect(isRagError(inter[4].error, 'OVERLOADED'), `i4 does not fit the interactive bound of 4 and got ${describeErr(inter[4].error)}`).toBe(true);
      await model.finishAll();
      await flush();
      for (const r of inter.slice(0, 4)) expect(r.value, `${r.name}: ${describeErr(r.error)}`).toEqual(r.items.map((x) => `out:${x}`));
    });

    it('keeps the bulk queue within its bound and refuses the excess with OVERLOADED and a retryAfter hint', async () => {
      const { model, queue, submit } = setup({ maxQueued: { interactive: 4, bulk: 16 } });
      submit('b0', 8, 'bulk');
      await flush(); // b0 runs: running items are not waiting
      const reqs: Tracked[] = [];
      for (let k = 1; k <= 5; k++) {
        reqs.push(submit(`b${k}`, 4, 'bulk'));
        await flush();
        const q = queue.stats().queued.bulk;
        expect(q, `${q} bulk items waiting, bound 16`).toBeLessThanOrEqual(16);
      }
      expect(reqs.slice(0, 4).map((r) => r.error && describeErr(r.error)), 'b1-b4 fit the bulk bound of 16 but were refused').toEqual([undefined, undefined, undefined, undefined]);
      const shed = reqs[4];
      expect(shed.settled, 'b5 does not fit the bulk bound (16 items waiting) and was not refused at once').toBe(1);
      expect(isRagError(shed.error, 'OVERLOADED'), `b5 was refused with ${describeErr(shed.error)}, not a RagError 'OVERLOADED' (HTTP 503)`).toBe(true);
      const retry = (shed.error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      expect(typeof retry === 'number' && retry >= 1, `the refusal's retryAfterSeconds is ${String(retry)}, not a number ≥ 1 (the Retry-After header)`).toBe(true);
      await model.finishAll();
      await flush();
      for (const r of reqs.slice(0, 4)) expect(r.value, `${r.name} was admitted but not answered`).toEqual(r.items.map((x) => `out:${x}`));
      expect(model.seen().has('b5.0'), 'the refused request b5 reached the model').toBe(false);
    });

    it('takes an expired request out of the queue at once: its slot is free for the next request', async () => {
      const { model, queue, submit } = setup({ maxQueued: { interactive: 2, bulk: 16 } });
      submit('b0', 8, 'bulk');
      await flush();
      const c0 = new AbortController();
      const c1 = new AbortController();
      const x0 = submit('x0', 1, 'interactive', c0.signal);
      const x1 = submit('x1', 1, 'interactive', c1.signal);
      await flush();
      expire(c0);
      expire(c1);
      await flush();
      const q = queue.stats().queued.interactive;
      expect(q, `2 expired requests still hold ${q} of 2 interactive slots after their deadline passed`).toBe(0);
      for (const x of [x0, x1]) {
        expect(x.settled, `${x.name} was not rejected when its deadline passed (it waits to be dequeued)`).toBe(1);
        expect(isRagError(x.error, 'DEADLINE_EXCEEDED'), `${x.name} was rejected with ${describeErr(x.error)}, not a RagError 'DEADLINE_EXCEEDED'`).toBe(true);
      }
      const y = [submit('y0', 1, 'interactive'), submit('y1', 1, 'interactive')];
      await flush();
      for (const r of y) expect(r.error, `${r.name} was shed: the expired requests still held the slots (${describeErr(r.error)})`).toBeUndefined();
      await model.finishAll();
      await flush();
      for (const r of y) expect(r.value).toEqual(r.items.map((x) => `out:${x}`));
    });

    it('never runs an expired request; one already running is not interrupted, its result dropped (count model items)', async () => {
      const { model, queue, submit } = setup();
      const cr = new AbortController();
      const r = submit('r', 24, 'bulk', cr.signal);
      await flush(); // r.0-7 is on the model
      const cx = new AbortController();
      const cz = new AbortController();
      const x = submit('x', 1, 'interactive', cx.signal);
      const z = submit('z', 24, 'bulk', cz.signal);
      const done = new AbortController();
      done.abort(new DOMException('timeout', 'TimeoutError'));
      const late = submit('late', 1, 'interactive', done.signal); // its deadline passed before it was submitted
      await flush();
      expire(cr);
      expire(cx);
      expire(cz);
      await flush();
      for (const t of [r, x, z, late]) {
        expect(t.settled, `${t.name} was not rejected at once when its deadline passed`).toBe(1);
        expect(isRagError(t.error, 'DEADLINE_EXCEEDED'), `${t.name}: ${describeErr(t.error)}, not a RagError 'DEADLINE_EXCEEDED'`).toBe(true);
      }
      await model.finishAll();
      await flush();
      const seen = model.seen();
      const ran = (p: string) => [...seen.keys()].filter((k) => k.startsWith(`${p}.`)).length;
      const dead = ran('x') + ran('z') + ran('late');
      expect(dead, `the model ran ${dead} items of requests that had already been rejected (their deadline passed while they waited)`).toBe(0);
      expect(ran('r'), `the model ran ${ran('r')} of r's 24 items: only the 8 already running when it expired may run`).toBe(8);
      expect(r.settled, 'r was answered again when its running chunk finished').toBe(1);
      expect(queue.stats().queued, 'items still waiting once everything ran').toEqual({ interactive: 0, bulk: 0 });
    });

    it('honours a real AbortSignal.timeout(10) while the model is busy', async () => {
      const { model, queue, submit } = setup();
      submit('b0', 8, 'bulk');
      await flush();
      const t = submit('t', 1, 'interactive', AbortSignal.timeout(10));
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (t.settled > 0) {
            clearInterval(poll);
            resolve();
          }
        }, 5);
        setTimeout(() => {
          clearInterval(poll);
          resolve();
        }, 1500).unref();
      });
      expect(t.settled, 'not rejected 1.5 s after a 10 ms deadline while the model was busy').toBe(1);
      expect(isRagError(t.error, 'DEADLINE_EXCEEDED'), describeErr(t.error)).toBe(true);
      expect(queue.stats().queued.interactive, 'the expired request still waits').toBe(0);
      await model.finishAll();
      expect(model.seen().has('t.0'), 'the model ran a request after its deadline').toBe(false);
    });

    it('loses no request and answers none twice under a seeded mix of submissions, aborts, sheds and model errors', async () => {
      const rand = mulberry32(12);
      const boom = new Error('model error');
      const { model, queue, submit } = setup({ maxQueued: { interactive: 6, bulk: 24 } }, (items) => (items.some((x) => x.startsWith('f')) ? boom : undefined));
      const all: Tracked[] = [];
      const ctrls: AbortController[] = [];
      for (let step = 0; step < 400; step++) {
        const u = rand();
        if (u < 0.35) {
          const c = new AbortController();
          ctrls.push(c);
          const poison = rand() < 0.05 ? 'f' : '';
          all.push(submit(`${poison}i${step}`, 1 + Math.floor(rand() * 2), 'interactive', rand() < 0.5 ? c.signal : undefined));
        } else if (u < 0.55) {
          const c = new AbortController();
          ctrls.push(c);
          const poison = rand() < 0.05 ? 'f' : '';
          all.push(submit(`${poison}b${step}`, 1 + Math.floor(rand() * 20), 'bulk', rand() < 0.5 ? c.signal : undefined));
        } else if (u < 0.7 && ctrls.length > 0) {
          expire(ctrls[Math.floor(rand() * ctrls.length)]);
        } else if (model.busy > 0) {
          await model.finishOne();
        }
        await flush();
        const q = queue.stats().queued;
        expect(q.interactive, `step ${step}: ${q.interactive} interactive items waiting, bound 6`).toBeLessThanOrEqual(6);
        expect(q.bulk, `step ${step}: ${q.bulk} bulk items waiting, bound 24`).toBeLessThanOrEqual(24);
      }
      await model.finishAll();
      await flush();
      const seen = model.seen();
      for (const r of all) {
        expect(r.settled, `request ${r.name} was never answered: lost`).toBe(1);
        for (const x of r.items) expect(seen.get(x) ?? 0, `item ${x} ran ${seen.get(x)} times`).toBeLessThanOrEqual(1);
        if (r.error === undefined) {
          expect(r.value, `request ${r.name} got other outputs than its own`).toEqual(r.items.map((x) => `out:${x}`));
          continue;
        }
        const ok = r.error === boom || isRagError(r.error, 'OVERLOADED') || isRagError(r.error, 'DEADLINE_EXCEEDED');
        expect(ok, `request ${r.name} failed with ${describeErr(r.error)}`).toBe(true);
        if (isRagError(r.error, 'OVERLOADED')) expect(seen.has(r.items[0]), `the refused request ${r.name} reached the model`).toBe(false);
      }
      expect(queue.stats().queued).toEqual({ interactive: 0, bulk: 0 });
    });
  });
});
