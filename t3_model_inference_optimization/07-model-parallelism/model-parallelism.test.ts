/**
 * Checkpoint for 07-model-parallelism. `npm run checkpoint -- 07-model-parallelism` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (the whole model on the calling thread), after.ts (the pipeline) and
 * data-parallel.ts (two whole-model threads, the honest comparison).
 *
 * The model: the checkpoint's encoder (data.ts: TINY_ENCODER's widths with six layers and a trained-like spread;
 * seeded weights, outputs carry no meaning). The reference is the whole model in one session on this thread. Every
 * service is created with micro-batches of 4 texts and a window of 3 micro-batches in flight.
 *
 * What is checked is counted, not timed (probe.ts watches the messages between the threads): the rows equal the
 * whole model's within 1e-5, in the callers' order, none lost, under concurrent callers; at most 3 micro-batches in
 * flight; two stage threads computing at once (stage 1 takes micro-batch k+1 while stage 2 works on k); the layers
 * split evenly between the stages; exactly [batch, seq, hidden] floats crossing the stage boundary, moved by transfer
 * (0 bytes copied); an error in a stage rejects its request (within seconds, never a hang) and frees its slot; a
 * thread that dies rejects the requests it holds; close terminates every thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations, implMode } from '../../shared/lab/checkpoint.ts';
import { buildEncoderFromWeights } from '../../shared/model/encoder.ts';
import { embedAll, openSession, seededTexts } from '../../shared/model/session.ts';
import { checkpointWeights } from './data.ts';
import { watchThreads, type ThreadCounts, type ThreadWatch } from './probe.ts';
import type { EncoderService } from './types.ts';

type Mod = typeof import('./after.ts');

const TOL = 1e-5;
const MICRO_BATCH = 4;
const WINDOW = 3;
/** How long a request may take to settle before it counts as hung (the checkpoint's runs take milliseconds). */
const HANG_MS = 10_000;

const weights = checkpointWeights();
const { hidden: H, vocab, layers: LAYERS } = weights.config;
/** 48 seeded lists of 1-40 tokens: 12 micro-batches of 4. */
const lists = seededTexts(48, vocab, 1, 40, 2026);
const MICRO_BATCHES = lists.length / MICRO_BATCH;

let reference: Float32Array[];
beforeAll(async () => {
  const s = await openSession(buildEncoderFromWeights(weights));
  reference = await embedAll(s, lists, MICRO_BATCH);
  await s.release();
});

const impls = await implementations<Mod>(import.meta.url);
if (implMode() === 'default') impls.push(['data-parallel', (await import('./data-parallel.ts')) as Mod]);

/** The largest |difference| of `rows` to the reference rows from `offset`. */
function maxDiff(rows: Float32Array[], offset: number): number {
  let d = 0;
  rows.forEach((r, i) => r.forEach((x, j) => (d = Math.max(d, Math.abs(x - reference[offset + i][j])))));
  return d;
}

/** 'resolved' | 'rejected: <message>' | 'hung', whichever comes first within HANG_MS. */
async function settle(p: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), HANG_MS)));
  const done = p.then(
    () => 'resolved',
    (err: unknown) => `rejected: ${(err as Error)?.message ?? err}`,
  );
  try {
    return await Promise.race([done, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');
const copiedList = (c: ThreadCounts) =>
  Object.entries(c.copied)
    .filter(([, b]) => b > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, b]) => `${fmt(b)} bytes of ${name}`);

describe.each(impls)('%s', (_name, impl) => {
  let service: EncoderService;
  let watch: ThreadWatch;
  beforeAll(async () => {
    service = await impl.createEncoderService({ weights, microBatch: MICRO_BATCH, window: WINDOW });
    watch = watchThreads(service.threads, H);
  });
  afterAll(async () => {
    watch?.restore();
    await service?.close();
  });

  it(`returns the whole model's rows, in order, within ${TOL}`, async () => {
    const rows = await service.embed(lists);
    expect(rows).toHaveLength(lists.length);
    const d = maxDiff(rows, 0);
    expect(d, `max |difference| to the whole model's rows ${d.toExponential(2)}, tolerance ${TOL}`).toBeLessThanOrEqual(TOL);
  });

  it('keeps every caller’s rows in its order and loses no request when callers overlap', async () => {
    watch.reset();
    const sizes = [1, 9, 3, 0, 7, 12, 5, 11];
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const results = await Promise.all(sizes.map((n, i) => service.embed(lists.slice(offsets[i], offsets[i] + n))));
    results.forEach((rows, i) => {
      expect(rows, `call ${i} (${sizes[i]} lists) got ${rows.length} rows`).toHaveLength(sizes[i]);
      const d = maxDiff(rows, offsets[i]);
      expect(d, `call ${i}: max |difference| ${d.toExponential(2)}: rows out of order or mixed between callers`).toBeLessThanOrEqual(TOL);
    });
    const c = watch.counts;
    expect(c.left, `${c.entered} micro-batches entered the threads, ${c.left} came back`).toBe(c.entered);
  });

  describe.skipIf(impl.STAGES === 0)('the threads', () => {
    it(`keeps at most ${WINDOW} micro-batches in flight (the window)`, async () => {
      watch.reset();
      await service.embed(lists);
      const c = watch.counts;
      expect(c.entered, `${c.entered} micro-batches entered the threads for ${MICRO_BATCHES}`).toBe(MICRO_BATCHES);
      expect(c.maxInFlight, `${c.maxInFlight} micro-batches in flight at once, bound ${WINDOW} (the window)`).toBeLessThanOrEqual(WINDOW);
    });

    it('keeps every thread computing at once: stage 1 takes micro-batch k+1 while stage 2 works on k', async () => {
      watch.reset();
      await service.embed(lists);
      const c = watch.counts;
      const n = service.threads.length;
      expect(
        c.maxBusy,
        `at most ${c.maxBusy} of ${n} stage threads worked at once over ${c.entered} micro-batches: ` +
          `stage 1 waited for stage 2 before taking the next micro-batch`,
      ).toBe(n);
    });

    it('splits the layers evenly between the stage threads', () => {
      const per = service.threads.map((t) => t.layers);
      const counts = per.map((l) => l.length);
      const shown = per.map((l) => (l.length === 1 ? `${l[0]}` : `${l[0]}-${l[l.length - 1]}`)).join(' | ');
      expect(
        Math.max(...counts) - Math.min(...counts),
        `the stage threads run ${counts.join(' and ')} layers (layers ${shown}): a pipeline goes at the pace of its slowest stage`,
      ).toBeLessThanOrEqual(1);
      const disjoint = new Set(per.flat()).size === per.flat().length;
      if (disjoint) expect(per.flat().sort((a, b) => a - b), 'the stages together must run every layer once').toEqual([...Array(LAYERS).keys()]);
      else for (const l of per) expect(l, 'a thread that is not a stage runs the whole model').toEqual([...Array(LAYERS).keys()]);
    });

    it('moves exactly [batch, seq, hidden] floats across the stage boundary, by transfer: 0 bytes copied', async () => {
      watch.reset();
      await service.embed(lists);
      const c = watch.counts;
      const copied = copiedList(c);
      expect(copied, `copied ${copied.join(', ')} between threads (structured clone): list the buffers in the transfer list`).toEqual([]);
      expect(c.boundary.badShapes, 'hidden states that were not float32 [batch, seq, hidden]').toEqual([]);
      const pipeline = new Set(service.threads.flatMap((t) => t.layers)).size === service.threads.flatMap((t) => t.layers).length;
      // a pipeline of n stages hands each micro-batch across n − 1 boundaries; whole-model threads across none
      const crossings = pipeline ? MICRO_BATCHES * (service.threads.length - 1) : 0;
      expect(c.boundary.posts, `${c.boundary.posts} hidden-state tensors crossed a stage boundary for ${MICRO_BATCHES} micro-batches`).toBe(crossings);
      const floats = pipeline ? expectedFloats() * (service.threads.length - 1) : 0;
      expect(c.boundary.floats, `${fmt(c.boundary.floats)} floats crossed the stage boundary, [batch, seq, hidden] makes ${fmt(floats)}`).toBe(floats);
    });
  });

  it('rejects a request whose micro-batch fails in a stage (no hang), and goes on serving the others', async () => {
    const bad = [[vocab + 5]]; // a token id outside the word table: the first stage's Gather fails
    const [b, g] = await Promise.all([settle(service.embed(bad)), settle(service.embed(lists.slice(0, 8)))]);
    expect(b, 'a token id outside the vocabulary').toMatch(/^rejected: /);
    expect(g, 'a good request beside the failing one').toBe('resolved');
    // more failures than the window has slots: each must give its slot back, or the next request waits forever
    const fails = await Promise.all(Array.from({ length: WINDOW + 2 }, () => settle(service.embed(bad))));
    expect(fails.filter((f) => f === 'hung'), 'failing requests that never settled').toEqual([]);
    expect(await settle(service.embed(lists.slice(0, 4))), `a request after ${WINDOW + 2} failed ones: their slots in the window were not freed`).toBe('resolved');
  });

  it.skipIf(impl.STAGES === 0)('rejects the requests a dying thread holds instead of hanging, and settles every later one', async () => {
    const other = await impl.createEncoderService({ weights, microBatch: MICRO_BATCH, window: WINDOW });
    try {
      const pending = settle(other.embed(lists.slice(0, 24)));
      // the thread ends after the run it is in (terminating it inside onnxruntime's native run would abort the process)
      other.threads[other.threads.length - 1].worker.postMessage({ exit: 1 });
      const layers = other.threads.flatMap((t) => t.layers);
      const pipeline = new Set(layers).size === layers.length;
      // a pipeline cannot finish a request without its last stage: rejected. Whole-model threads may finish it (the
      // dying thread completes the run it is in, the other serves the rest: resolved, which a loaded machine's timing
      // makes likely) or reject what the dead one held; either way it settles.
      if (pipeline) expect(await pending, 'a request in flight when the last stage died').toMatch(/^rejected: /);
      else expect(await pending, 'a request in flight when one whole-model thread died').not.toBe('hung');
      // a pipeline has no way round a dead stage (rejected); whole-model threads may serve it on the other (resolved)
      expect(await settle(other.embed(lists.slice(0, 4))), 'a request after the last thread died').not.toBe('hung');
    } finally {
      await other.close();
    }
  });

  it('terminates its threads on close, and rejects calls after it', async () => {
    await service.close();
    expect(watch.counts.exited, `${watch.counts.exited} of ${service.threads.length} threads exited on close`).toBe(service.threads.length);
    expect(await settle(service.embed(lists.slice(0, 1)))).toMatch(/^rejected: /);
  });
});

/** Floats of hidden states for `lists` in micro-batches: Σ batch · seq · hidden (seq: each micro-batch's longest). */
function expectedFloats(): number {
  let f = 0;
  for (let i = 0; i < lists.length; i += MICRO_BATCH) {
    const part = lists.slice(i, i + MICRO_BATCH);
    f += part.length * Math.max(1, ...part.map((l) => l.length)) * H;
  }
  return f;
}
