/**
 * SessionWorker (shared/model/session-worker.ts): an onnxruntime session in a worker thread. Checks behaviour, never
 * speed: the same outputs as a session in this thread; this thread's event loop keeps turning during a long run
 * (and, for contrast, does not while a session in this thread runs); two workers' runs overlap, two runs on one worker
 * do not (timestamps taken inside the workers); outputs are moved, feeds copied unless asked; a failing run rejects
 * its call, a dying worker rejects every pending call, close() ends the worker (without aborting the process when a
 * run is in progress, which worker.terminate() would).
 *
 * The model: the seeded encoder (random weights: outputs carry no meaning), sized so one run at one thread takes
 * ~100 ms or more on this machine: 2 layers, hidden 384, FFN 1536, a batch of 16 × 128 tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { isRagError } from '../errors.ts';
import { buildEncoderModel } from './encoder.ts';
import { openSession, seededTexts, tokenFeeds } from './session.ts';
import { SessionWorker, toWire, type SessionWorker as Handle } from './session-worker.ts';

const SHAPE = { layers: 2, hidden: 384, heads: 6, ffn: 1536, vocab: 1000, maxPositions: 128 };
const model = buildEncoderModel(SHAPE);
const bigLists = seededTexts(16, SHAPE.vocab, 128, 128, 7);
const smallLists = seededTexts(3, SHAPE.vocab, 5, 20, 8);

/** Runs `fn` with a 1 ms interval ticking; returns its result, the ticks and the longest gap between ticks (ms). */
async function withTicks<T>(fn: () => Promise<T>): Promise<{ value: T; ticks: number; longestGap: number; ms: number }> {
  let ticks = 0;
  let last = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    longestGap = Math.max(longestGap, t - last);
    last = t;
    ticks++;
  }, 1);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    longestGap = Math.max(longestGap, performance.now() - last);
    return { value, ticks, longestGap, ms };
  } finally {
    clearInterval(timer);
  }
}

let a: Handle;
let b: Handle;
let local: ort.InferenceSession;
beforeAll(async () => {
  [a, b, local] = await Promise.all([SessionWorker.open(model, { intraOpNumThreads: 1, name: 'A' }), SessionWorker.open(model, { intraOpNumThreads: 1, name: 'B' }), openSession(model, 1)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), local?.release()]);
});

describe('SessionWorker', () => {
  it('gives the outputs a session in this thread gives (within 1e-6), moved out of the worker', async () => {
    expect(a.inputNames).toEqual([...local.inputNames]);
    expect(a.outputNames).toEqual([...local.outputNames]);
    const want = (await local.run(tokenFeeds(smallLists))) as Record<string, ort.Tensor>;
    const got = await a.run(toWire(tokenFeeds(smallLists)));
    for (const name of local.outputNames) {
      expect(got[name].dims).toEqual([...want[name].dims]);
      expect(got[name].type).toBe('float32');
      const x = got[name].data as Float32Array;
      const y = want[name].data as Float32Array;
      expect(x).toBeInstanceOf(Float32Array);
      expect(x.length).toBe(y.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      expect(worst).toBeLessThanOrEqual(1e-6);
    }
  });

  it('copies feeds by default and moves them with { transfer: true }', async () => {
    const feeds = toWire(tokenFeeds(smallLists));
    await a.run(feeds);
    expect(feeds.input_ids.data.byteLength, 'copied: still readable here').toBeGreaterThan(0);
    await a.run(feeds, { transfer: true });
    expect(feeds.input_ids.data.byteLength, 'moved: detached here').toBe(0);
  });

  it("keeps this thread's event loop turning during a long run (a session in this thread blocks it)", async () => {
    const inWorker = await withTicks(() => a.runTimed(toWire(tokenFeeds(bigLists))));
    const runMs = inWorker.value.endedAt - inWorker.value.startedAt;
    const inThread = await withTicks(() => local.run(tokenFeeds(bigLists)));
    const msg = `run ${runMs.toFixed(0)} ms in the worker: ${inWorker.ticks} ticks, longest gap ${inWorker.longestGap.toFixed(0)} ms; ` + `in this thread: ${inThread.ms.toFixed(0)} ms, ${inThread.ticks} ticks, longest gap ${inThread.longestGap.toFixed(0)} ms`;
    // the gap bound is relative to the run itself, so a slow (shared) machine scales both sides
    expect(runMs, `the model is too small to tell: ${msg}`).toBeGreaterThan(30);
    expect(inWorker.longestGap, msg).toBeLessThan(runMs / 2);
    expect(inWorker.ticks, msg).toBeGreaterThanOrEqual(5);
    // the contrast: the native run in this thread is synchronous, so no tick can fire during it
    expect(inThread.longestGap, msg).toBeGreaterThanOrEqual(inThread.ms * 0.5);
  }, 30_000);

  it('runs two workers at once (timestamps inside the workers overlap); two runs on one worker queue', async () => {
    const feeds = toWire(tokenFeeds(bigLists));
    const [ra, rb] = await Promise.all([a.runTimed(feeds), b.runTimed(feeds)]);
    const span = (r: { startedAt: number; endedAt: number }) => `${r.startedAt.toFixed(1)}–${r.endedAt.toFixed(1)}`;
    expect(rb.startedAt, `A ran ${span(ra)}, B ran ${span(rb)}: B started after A ended`).toBeLessThan(ra.endedAt);
    expect(ra.startedAt, `A ran ${span(ra)}, B ran ${span(rb)}: A started after B ended`).toBeLessThan(rb.endedAt);
    const [r1, r2] = await Promise.all([a.runTimed(feeds), a.runTimed(feeds)]);
    expect(r2.startedAt, `one worker: first ${span(r1)}, second ${span(r2)}`).toBeGreaterThanOrEqual(r1.endedAt);
  }, 30_000);

  it('rejects a run the session refuses, and keeps serving', async () => {
    const bad = toWire(tokenFeeds(smallLists));
    bad.input_ids = { data: new BigInt64Array([1n, 2n, 3n]), dims: [1, 3] }; // attention_mask has another shape
    const err = await a.run(bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRagError(err, 'INVALID_INPUT'), String(err)).toBe(true);
    expect(String(err)).toMatch(/A: run failed/);
    const ok = await a.run(toWire(tokenFeeds(smallLists)));
    expect(Object.keys(ok)).toEqual([...a.outputNames]);
  });

  it('rejects a model it cannot open (bytes or path) without leaving a worker behind', async () => {
    await expect(SessionWorker.open(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow(/could not open the model/);
    await expect(SessionWorker.open('/nonexistent/model.onnx')).rejects.toThrow(/could not open the model/);
  }, 30_000);

  it('rejects every pending call when the worker dies, and every later call', async () => {
    const c = await SessionWorker.open(model, { intraOpNumThreads: 1, name: 'C' });
    const feeds = toWire(tokenFeeds(bigLists));
    const calls = [c.run(feeds), c.run(feeds), c.run(feeds)].map((p) =>
      p.then(
        () => 'resolved',
        (e: Error) => e.message,
      ),
    );
    c.worker.postMessage({ exit: 3 }); // what a crash looks like from here (handled between two runs)
    const got = await Promise.all(calls);
    expect(got.filter((g) => g !== 'resolved').length, got.join('; ')).toBeGreaterThanOrEqual(1);
    for (const g of got) if (g !== 'resolved') expect(g).toMatch(/C: the worker exited \(code 3\)/);
    await expect(c.run(feeds)).rejects.toThrow(/C: the worker exited/);
    await c.close(); // after a death: resolves at once
  }, 30_000);

  it('close() rejects what was pending and what comes later, lets the run in progress finish, and ends the worker', async () => {
    const d = await SessionWorker.open(model, { intraOpNumThreads: 1, name: 'D' });
    const feeds = toWire(tokenFeeds(bigLists));
    const pending = [d.run(feeds), d.run(feeds)].map((p) =>
      p.then(
        () => 'resolved',
        (e: Error) => e.message,
      ),
    );
    await new Promise((r) => setTimeout(r, 30)); // the first run is likely in progress now: close must not abort the process
    let exitCode: number | undefined;
    d.worker.once('exit', (code) => (exitCode = code));
    await d.close();
    expect(exitCode, 'the worker has exited when close() resolves').toBe(0);
    for (const p of await Promise.all(pending)) expect(p).toMatch(/D: closed/);
    await expect(d.run(feeds)).rejects.toThrow(/D: closed/);
    await d.close(); // idempotent
  }, 30_000);
});
