/**
 * Benchmark for 11-hot-swap: steady concurrent requests (one text each) on the seeded encoder while the model is
 * swapped fp32 → int8 → fp32 … (lesson 01's `quantizeMatMulWeights`), each load a fresh onnxruntime session; through
 * stop-release-load-serve (before), the model slot (after), and the slot's three wrong turns: releasing the old
 * session at the swap, swapping before the warm-up, reading the slot twice per request.
 * Run: npm run t3 -- --only 11-hot-swap [--quick] [--impl exercise]
 *
 * Headline: failed requests over the run (all of them fall around the swaps; counted). Beside it: p99 latency of
 * requests that started during a swap or just after it (the swap window) and of the others, cold runs served (requests
 * answered by a model before its warm-up finished), answers tagged with a version that did not compute them, and
 * release() calls made while requests were running on the model. The timed call (tinybench) is one request on a warm
 * server, no swap. Seeded weights: outputs carry no meaning; one intra-op thread per session.
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { quantizeMatMulWeights } from '../../shared/model/quantize.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { computedBy, loadTracked, POOL, referenceRows, WARM_RUNS, warmUp, type Tracked } from './data.ts';
import * as readTwice from './wrong/read-twice.ts';
import * as releaseAtOnce from './wrong/release-at-once.ts';
import * as swapBeforeWarm from './wrong/swap-before-warm.ts';

type Mod = typeof after;
const HEADLINE = 'failed requests during swaps';
const SEEDED = 'seeded encoder: outputs carry no meaning';

interface Size {
  encoder: EncoderOptions;
  label: string;
  clients: number;
  requestsPerClient: number;
  swaps: number;
}

const IMPLS: Record<string, { mod: Mod; what: string }> = {
  before: { mod: before, what: 'release the old session, load the new one, serve (no warm-up)' },
  after: { mod: after, what: 'ModelSlot: load + warm beside the old model, replace one reference, release after the last lease' },
  'release at the swap': { mod: releaseAtOnce, what: 'load + warm beside, replace, release the old session at once' },
  'swap before warm-up': { mod: swapBeforeWarm, what: 'load, replace, then warm' },
  'slot read twice': { mod: readTwice, what: 'the slot, but the answer’s version read from the slot after the run' },
};

interface Input {
  size: Size;
  bytes: Record<'fp32' | 'int8', Uint8Array>;
  vocab: number;
  refs: Record<string, Map<string, Float32Array>>;
  impls: Record<string, Mod>;
  servers: Record<string, after.ModelServer>;
  next: number;
}

const tick = () => new Promise((r) => setImmediate(r));

interface RunResult {
  failed: number;
  answered: number;
  windowMs: number[];
  steadyMs: number[];
  cold: number;
  mismatched: number;
  earlyReleases: number;
  swapMs: number[];
}

/** One run under load: `clients` loops of `requestsPerClient` requests, `swaps` swaps spread over it. */
async function loadRun(mod: Mod, input: Input): Promise<RunResult> {
  const { size, bytes, vocab, refs } = input;
  const loads: Tracked[] = [];
  const loader = (v: 'fp32' | 'int8') => async () => {
    const t = await loadTracked(bytes[v], v, vocab);
    loads.push(t);
    return t;
  };
  const server = await mod.createModelServer(loader('fp32'), { warm: warmUp, warmRuns: WARM_RUNS });
  const total = size.clients * size.requestsPerClient;
  let started = 0;
  let done = 0;
  let swapping = false;
  let afterSwap = 0; // requests still counted in the window after a swap resolved
  const r: RunResult = { failed: 0, answered: 0, windowMs: [], steadyMs: [], cold: 0, mismatched: 0, earlyReleases: 0, swapMs: [] };
  const client = async (c: number) => {
    for (let i = 0; i < size.requestsPerClient; i++) {
      const text = POOL[(c * 17 + i) % POOL.length];
      const inWindow = swapping || afterSwap-- > 0;
      started++;
      const t0 = performance.now();
      try {
        const a = await server.embed([text]);
        const ms = performance.now() - t0;
        (inWindow ? r.windowMs : r.steadyMs).push(ms);
        r.answered++;
        if (computedBy(a.vectors[0], text, refs) !== a.version) r.mismatched++;
      } catch {
        r.failed++;
        await tick(); // a failure returns at once: let the swap and the other clients run
      }
      done++;
    }
  };
  const clients = Array.from({ length: size.clients }, (_, c) => client(c));
  const order: Array<'fp32' | 'int8'> = Array.from({ length: size.swaps }, (_, k) => (k % 2 === 0 ? 'int8' : 'fp32'));
  for (const [k, v] of order.entries()) {
    const at = ((k + 1) * total) / (size.swaps + 1);
    while (done < at && done < total) await tick();
    swapping = true;
    const t0 = performance.now();
    try {
      await server.swap(loader(v));
    } finally {
      r.swapMs.push(performance.now() - t0);
      swapping = false;
      afterSwap = 2 * size.clients;
    }
  }
  await Promise.all(clients);
  await server.close().catch(() => {});
  for (const t of loads) {
    r.cold += t.coldServed;
    r.earlyReleases += t.inFlightAtRelease.filter((n) => n > 0).length;
    if (t.releaseCalls === 0) await t.release();
  }
  void started;
  return r;
}

export default defineLesson<Size, Input>({
  id: 't3/11-hot-swap',
  title: 'Hot-swap: load and warm a model beside the serving one, swap one reference, release after the last request',
  workload:
    'concurrent clients sending one-text requests to the seeded encoder (random weights: outputs carry no meaning, one intra-op thread) ' +
    'while the model is swapped fp32 ↔ int8, each load a fresh onnxruntime session. Headline: failed requests; p99 in the swap window, ' +
    'cold runs served and mismatched version tags beside it. The timed call is one request on a warm server, no swap',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128), 4 clients × 120 requests, 3 swaps',
      clients: 4,
      requestsPerClient: 120,
      swaps: 3,
    },
    full: { encoder: {}, label: 'MiniLM-L6 shape, 4 clients × 250 requests, 4 swaps', clients: 4, requestsPerClient: 250, swaps: 4 },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label.split(',')[0], ctx.model);
    ctx.log(ctx.model ? `running ${enc.label} and its int8 form` : `building the ${size.label.split(',')[0]} with seeded weights and its int8 form`);
    const fp32 = enc.bytes;
    const bytes = { fp32, int8: quantizeMatMulWeights(fp32, enc.matmulWeights, { format: 'integer' }) };
    const vocab = enc.vocab;
    const refs = { fp32: await referenceRows(bytes.fp32, vocab, POOL), int8: await referenceRows(bytes.int8, vocab, POOL) };
    const impls: Record<string, Mod> = Object.fromEntries(Object.entries(IMPLS).map(([k, v]) => [k, v.mod]));
    if (ctx.exercise) impls[EXERCISE] = ctx.exercise as Mod;
    const servers: Record<string, after.ModelServer> = {};
    for (const [name, mod] of Object.entries(impls)) {
      servers[name] = await mod.createModelServer(() => loadTracked(bytes.fp32, 'fp32', vocab), { warm: warmUp, warmRuns: WARM_RUNS });
    }
    return { size, bytes, vocab, refs, impls, servers, next: 0 };
  },
  teardown: async (input) => {
    for (const s of Object.values(input.servers)) await s.close().catch(() => {});
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'requests', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(IMPLS).map((name) => [name, (input: Input) => input.servers[name].embed([POOL[input.next++ % POOL.length]])])),
  exercise: (input) => input.servers[EXERCISE].embed([POOL[input.next++ % POOL.length]]),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const { size } = input;
    for (const [name, mod] of Object.entries(input.impls)) {
      ctx.log(`under load with ${size.swaps} swaps: ${name}`);
      const r = await loadRun(mod, input);
      const v = { variant: name };
      const what = name === EXERCISE ? 'exercise.ts' : IMPLS[name].what;
      const n = r.failed + r.answered;
      metrics.push(
        measured(HEADLINE, 'requests', [r.failed], { ...v, note: `${r.failed} of ${n} requests failed over ${size.swaps} swaps; ${what}; ${size.label}` }),
        { name: 'cold runs served', value: r.cold, unit: 'requests', ...v, note: `requests run among a fresh session's first ${WARM_RUNS} runs (the runs a warm-up exists to take)` },
        { name: 'answers tagged with another version', value: r.mismatched, unit: 'answers', ...v, note: `of ${r.answered} answers, vector compared with each version's reference output (≤ 1e-5); ${SEEDED}` },
        { name: 'releases under in-flight requests', value: r.earlyReleases, unit: 'releases', ...v, note: 'release() calls made while requests ran on the model' },
        measured('swap time', 'ms', r.swapMs, { ...v, note: 'swap() call to its resolution (load + warm-up, or release + load)' }),
      );
      if (r.windowMs.length) metrics.push(measured('p99 during the swaps', 'ms', r.windowMs, { ...v, stat: 'p99', note: `${r.windowMs.length} answered requests that started during a swap or within ${2 * size.clients} requests after it` }));
      if (r.steadyMs.length) metrics.push(measured('p99 outside the swaps', 'ms', r.steadyMs, { ...v, stat: 'p99', note: `${r.steadyMs.length} answered requests` }));
    }
    return { metrics };
  },
});
