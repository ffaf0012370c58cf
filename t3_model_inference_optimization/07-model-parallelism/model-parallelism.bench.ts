/**
 * Benchmark for 07-model-parallelism: the seeded encoder (MiniLM-L6's shape in full mode, a narrower six-layer one in
 * quick mode; seeded weights, outputs carry no meaning) served three ways: the whole model on the main thread
 * (before), split into two stage threads as a pipeline (after), and two whole-model threads (data parallelism, the
 * honest comparison). Every session has one intra-op thread; the machine has two cores.
 * Run: npm run t3 -- --only 07-model-parallelism [--quick] [--impl exercise]
 *
 * Headline: throughput at saturation in texts/s: `concurrency` closed-loop clients (more than the window, so every
 * service always has work), each request one micro-batch of 8 texts of `seq` tokens; texts served / wall time, mean
 * over the trials. Beside it: throughput at concurrency 1 (one client, one request at a time), and p50/p99 request
 * latency at both loads; the variants take turns within each trial, so load on the machine falls on all of them
 * alike. Counted on the saturation runs (probe.ts): micro-batches in flight at most, threads working at once,
 * hidden-state bytes across the stage boundary, bytes copied between threads; and each thread's session time per
 * micro-batch (the workers time `session.run`), which shows how even the stages are.
 * The time table's call: one request of 32 texts (4 micro-batches), one call at a time.
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { encoderWeights, type EncoderOptions } from '../../shared/model/encoder.ts';
import { seededTexts } from '../../shared/model/session.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import * as dataParallel from './data-parallel.ts';
import { watchThreads, type ThreadCounts, type ThreadWatch } from './probe.ts';
import type { EncoderService } from './types.ts';

type Mod = typeof after;

const HEADLINE = 'throughput at saturation';
const SEEDED = 'seeded weights: outputs carry no meaning';
const DATA_PARALLEL = 'data parallel (2 whole-model threads)';

interface Size {
  encoder: EncoderOptions;
  label: string;
  /** Tokens per text (every text this long: micro-batches of one shape). */
  seq: number;
  microBatch: number;
  window: number;
  /** Closed-loop clients at saturation. */
  concurrency: number;
  /** Requests (of one micro-batch each) per run at concurrency 1 and at saturation. */
  requestsAtOne: number;
  requestsAtSaturation: number;
  /** Trials: each runs every variant at concurrency 1 and at saturation, in turn. */
  trials: number;
}

interface Served {
  service: EncoderService;
  watch?: ThreadWatch;
  what: string;
}

interface Input {
  size: Size;
  services: Record<string, Served>;
  /** The time table's call: 32 texts. */
  call: number[][];
  /** One request per element (a micro-batch of texts each). */
  requests: number[][][];
  startMs: Record<string, number>;
  /** Why exercise.ts's service could not be created, if it could not. */
  exerciseError?: string;
}

/** One timed call at a time (tinybench calls a variant once unawaited when it is added; see t1/05's bench). */
let queue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const call = queue.then(fn);
  queue = call.catch(() => undefined);
  return call;
}

/** `concurrency` clients, each sending the next request as soon as its last one is answered, until none is left. */
async function drive(service: EncoderService, requests: number[][][], concurrency: number): Promise<{ ms: number; latencies: number[]; texts: number }> {
  let next = 0;
  let texts = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const a = performance.now();
        const rows = await service.embed(r);
        latencies.push(performance.now() - a);
        if (rows.length !== r.length) throw new Error(`${rows.length} rows for ${r.length} texts`);
        texts += r.length;
      }
    }),
  );
  return { ms: performance.now() - t0, latencies, texts };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export default defineLesson<Size, Input>({
  id: 't3/07-model-parallelism',
  title: 'Model parallelism: the encoder on one thread vs split across two stage threads as a pipeline (vs two whole-model threads)',
  workload:
    'the seeded encoder (random weights: outputs carry no meaning), requests of one micro-batch of 8 texts, one intra-op thread per session, ' +
    '2 cores. Headline: texts/s at saturation; latency p50/p99 at concurrency 1 and at saturation beside it. The timed call: 32 texts',
  sizes: {
    quick: {
      encoder: { layers: 6, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'six-layer encoder, hidden 128, FFN 512, vocabulary 8,000',
      seq: 32,
      microBatch: 8,
      window: 4,
      concurrency: 8,
      requestsAtOne: 8,
      requestsAtSaturation: 24,
      trials: 2,
    },
    full: {
      encoder: {},
      label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536, vocabulary 30,522)',
      seq: 64,
      microBatch: 8,
      window: 4,
      concurrency: 8,
      requestsAtOne: 15,
      requestsAtSaturation: 40,
      trials: 3,
    },
  },
  setup: async (size, ctx) => {
    if (ctx.model) ctx.log('--model ignored: this lesson cuts the seeded encoder into stage graphs by its weight names');
    ctx.log(`building the ${size.label} with seeded weights`);
    const weights = encoderWeights(size.encoder);
    const ex = ctx.exercise as Mod | undefined;
    const makers: Record<string, [Mod['createEncoderService'], string]> = {
      before: [before.createEncoderService, 'whole model, one session on the main thread'],
      after: [after.createEncoderService, 'pipeline: stage 1 = embeddings + layers 0-2, stage 2 = layers 3-5 + pooling, one thread each'],
      [DATA_PARALLEL]: [dataParallel.createEncoderService, 'two threads, each with the whole model; a micro-batch to the less busy one'],
      ...(ex ? { [EXERCISE]: [ex.createEncoderService, 'exercise.ts'] as [Mod['createEncoderService'], string] } : {}),
    };
    const services: Record<string, Served> = {};
    const startMs: Record<string, number> = {};
    let exerciseError: string | undefined;
    for (const [name, [create, what]] of Object.entries(makers)) {
      ctx.log(`starting: ${name}`);
      const t0 = performance.now();
      let service: EncoderService;
      try {
        service = await create({ weights, microBatch: size.microBatch, window: size.window });
      } catch (err) {
        if (name !== EXERCISE) throw err;
        exerciseError = (err as Error).message; // the exercise's row says why; the others still run
        ctx.log(`exercise.ts: createEncoderService failed: ${exerciseError}`);
        continue;
      }
      startMs[name] = performance.now() - t0;
      services[name] = { service, what, ...(service.threads.length > 0 ? { watch: watchThreads(service.threads, weights.config.hidden) } : {}) };
    }
    const vocab = weights.config.vocab;
    const requests = Array.from({ length: Math.max(size.requestsAtOne, size.requestsAtSaturation) }, (_, i) =>
      seededTexts(size.microBatch, vocab, size.seq, size.seq, 500 + i),
    );
    return { size, services, call: seededTexts(32, vocab, size.seq, size.seq, 99), requests, startMs, ...(exerciseError ? { exerciseError } : {}) };
  },
  teardown: async (input) => {
    for (const s of Object.values(input.services)) {
      s.watch?.restore();
      await s.service.close();
    }
  },
  baseline: 'before',
  headline: { name: 'throughput at saturation', unit: 'texts/s', better: 'higher', metric: HEADLINE },
  pairs: { after: 'before', [DATA_PARALLEL]: 'before' },
  featured: ['after', DATA_PARALLEL],
  variants: {
    before: (input) => oneAtATime(() => input.services.before.service.embed(input.call)),
    after: (input) => oneAtATime(() => input.services.after.service.embed(input.call)),
    [DATA_PARALLEL]: (input) => oneAtATime(() => input.services[DATA_PARALLEL].service.embed(input.call)),
  },
  exercise: (input) => {
    if (input.exerciseError) throw new Error(`createEncoderService failed: ${input.exerciseError}`);
    return oneAtATime(() => input.services[EXERCISE].service.embed(input.call));
  },
  options: { iterations: 3, time: 50, warmupTime: 0 },
  extras: async (input, ctx) => {
    const { size } = input;
    const names = Object.keys(input.services);
    const atOne = input.requests.slice(0, size.requestsAtOne);
    const atSat = input.requests.slice(0, size.requestsAtSaturation);
    const rec = Object.fromEntries(
      names.map((n) => [n, { tputOne: [] as number[], tputSat: [] as number[], latOne: [] as number[], latSat: [] as number[], counts: undefined as ThreadCounts | undefined }]),
    );
    ctx.log('warm-up: a few requests through every service');
    for (const n of [...names]) {
      try {
        await drive(input.services[n].service, input.requests.slice(0, 4), 4);
      } catch (err) {
        if (n !== EXERCISE) throw err;
        ctx.log(`exercise.ts failed, not measured: ${(err as Error).message}`);
        names.splice(names.indexOf(n), 1);
      }
    }
    for (let t = 0; t < size.trials; t++) {
      ctx.log(`trial ${t + 1}/${size.trials}: concurrency 1 (${atOne.length} requests) and ${size.concurrency} (${atSat.length} requests), every variant in turn`);
      for (const n of names) {
        const { service, watch } = input.services[n];
        const one = await drive(service, atOne, 1);
        rec[n].tputOne.push((one.texts * 1000) / one.ms);
        rec[n].latOne.push(...one.latencies);
        watch?.reset();
        const sat = await drive(service, atSat, size.concurrency);
        rec[n].tputSat.push((sat.texts * 1000) / sat.ms);
        rec[n].latSat.push(...sat.latencies);
        if (watch) rec[n].counts = watch.counts;
      }
    }
    const metrics: Metric[] = [];
    const shape = `requests of ${size.microBatch} texts × ${size.seq} tokens; ${size.label}; ${SEEDED}`;
    for (const n of names) {
      const r = rec[n];
      const v = { variant: n };
      metrics.push(
        measured(HEADLINE, 'texts/s', r.tputSat, { ...v, note: `${input.services[n].what}; ${size.concurrency} clients, ${atSat.length} requests; mean of ${size.trials} trials; ${shape}` }),
        measured('throughput at concurrency 1', 'texts/s', r.tputOne, { ...v, note: `one client, ${atOne.length} requests; mean of ${size.trials} trials` }),
        measured('latency p50 at concurrency 1', 'ms', r.latOne, { ...v, stat: 'median', note: `one request (${size.microBatch} texts) at a time` }),
        measured('latency p99 at concurrency 1', 'ms', r.latOne, { ...v, stat: 'p99' }),
        measured('latency p50 at saturation', 'ms', r.latSat, { ...v, stat: 'median', note: `${size.concurrency} clients, window ${size.window}` }),
        measured('latency p99 at saturation', 'ms', r.latSat, { ...v, stat: 'p99' }),
      );
      const c = r.counts;
      const threads = input.services[n].service.threads;
      if (c && c.entered > 0) {
        const copied = Object.values(c.copied).reduce((a, b) => a + b, 0);
        metrics.push(
          { name: 'micro-batches in flight, most', value: c.maxInFlight, unit: '', ...v, note: `window ${size.window}, ${size.concurrency} clients (counted)` },
          { name: 'threads working at once, most', value: c.maxBusy, unit: '', ...v, note: `of ${threads.length} (counted)` },
          {
            name: 'hidden-state bytes across the stage boundary per micro-batch',
            value: (c.boundary.floats * 4) / c.entered,
            unit: 'bytes',
            ...v,
            note: `[${size.microBatch}, ${size.seq}, hidden] float32; moved ${fmt(c.moved.hidden_states ?? 0)} B by transfer in the last saturation run`,
          },
          { name: 'bytes copied between threads', value: copied, unit: 'bytes', ...v, note: `structured clone, last saturation run (${c.entered} micro-batches)` },
        );
        threads.forEach((th, i) =>
          metrics.push({
            name: `session time per micro-batch, thread ${i + 1}`,
            value: c.runMs[i] / Math.max(1, c.runs[i]),
            unit: 'ms',
            ...v,
            note: `${th.name}: ${th.layers.length} layers, model ${fmt(th.modelBytes)} B; ${c.runs[i]} runs`,
          }),
        );
        metrics.push({
          name: 'model bytes per thread, largest',
          value: Math.max(...threads.map((th) => th.modelBytes)),
          unit: 'bytes',
          ...v,
          note: `all threads: ${fmt(threads.reduce((a, th) => a + th.modelBytes, 0))} B (the serialised models they loaded)`,
        });
      }
      metrics.push({ name: 'start-up', value: input.startMs[n], unit: 'ms', ...v, note: 'build the graphs, start the threads, open the sessions' });
    }
    return { metrics };
  },
});
