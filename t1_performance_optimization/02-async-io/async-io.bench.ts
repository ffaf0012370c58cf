/**
 * Benchmark for 02-async-io: embed n document files through a loopback "embedding API" (most calls 10 ms, one text in
 * four 40 ms), sequentially (before), with a p-limit window (after), as a bounded ordered stream, with Readable.map,
 * and two wrong ideas from wrong/: fixed batches and unbounded. Run: npm run t1 -- --only 02-async-io [--quick]
 *
 * Every call of every variant embeds the whole folder once; the headline is its throughput in files/s, one figure per
 * call (every call but the first, cold one), so it has a spread. The service's own counters give the requests in
 * flight.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { measured } from '../../shared/lab/metric.ts';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { removeCorpus, writeCorpus } from './data.ts';
import type { Embedded } from './embed-file.ts';
import { startEmbedService, type EmbedService, type EmbedServiceOptions } from './embed-service.ts';
import { embedStreamReadable } from './variants.ts';
import * as fixedBatches from './wrong/fixed-batches.ts';
import * as unbounded from './wrong/unbounded.ts';

interface Size {
  files: number;
  /** Latency of a typical call and of the slow one-in-`every`, ms. */
  service: Required<Pick<EmbedServiceOptions, 'latencyMs' | 'slow'>>;
  concurrency: number;
}

/** One call of a variant: the whole folder embedded once. */
interface Trial {
  ms: number;
  maxInFlight: number;
  /** Time-weighted mean of the requests in flight at the service over the call. */
  meanInFlight: number;
}

interface Input {
  size: Size;
  dir: string;
  files: string[];
  service: EmbedService;
  /** With --impl exercise: the learner's module. */
  exercise?: typeof after;
  trials: Record<string, Trial[]>;
}

/** What a streaming consumer does with each result: use it and let it go (here: a checksum). */
async function consume(stream: AsyncIterable<Embedded>): Promise<number> {
  let sum = 0;
  for await (const e of stream) sum += e.vector[0] + e.chars;
  return sum;
}

type Run = (input: Input) => Promise<unknown>;

const RUNS: Record<string, Run> = {
  before: (i) => before.embedAll(i.files, i.service, { concurrency: i.size.concurrency }),
  after: (i) => after.embedAll(i.files, i.service, { concurrency: i.size.concurrency }),
  stream: (i) => consume(after.embedStream(i.files, i.service, { concurrency: i.size.concurrency })),
  'stream (Readable.map)': (i) => consume(embedStreamReadable(i.files, i.service, { concurrency: i.size.concurrency })),
  'fixed batches': (i) => fixedBatches.embedAll(i.files, i.service, { concurrency: i.size.concurrency }),
  unbounded: (i) => unbounded.embedAll(i.files, i.service, { concurrency: i.size.concurrency }),
};

/** The learner's exercise.ts, measured like after.ts (its embedAll). */
const EXERCISE_RUN: Run = (i) => i.exercise!.embedAll(i.files, i.service, { concurrency: i.size.concurrency });

/** Runs one variant once over the folder and records the trial (the runner never runs two variants at once). */
async function trial(input: Input, name: string, run: Run): Promise<unknown> {
  input.service.resetStats();
  const t0 = performance.now();
  const out = await run(input);
  const ms = performance.now() - t0;
  const s = input.service.stats();
  (input.trials[name] ??= []).push({ ms, maxInFlight: s.maxInFlight, meanInFlight: s.inFlightMs / ms });
  return out;
}

/** A full GC, so every variant's memory is measured from the same clean start (the --expose-gc flag, set late). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Peak heap above the level at the start, in bytes, sampled every 2 ms while `run` works. */
async function peakHeap(run: () => Promise<unknown>): Promise<number> {
  collectGarbage();
  const start = process.memoryUsage().heapUsed;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 2);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().heapUsed) - start;
}

const SERVICE: Size['service'] = { latencyMs: 10, slow: { ms: 40, every: 4 } };

export default defineLesson<Size, Input>({
  id: 't1/02-async-io',
  title: 'Async I/O: sequential vs. a bounded sliding window (p-limit) vs. a bounded stream',
  workload:
    'read n Brown documents from files and embed each through a loopback HTTP service (one call per file: 10 ms, ' +
    'one text in four 40 ms); one call of a variant embeds the whole folder',
  sizes: {
    quick: { files: 16, service: SERVICE, concurrency: 4 },
    full: { files: 200, service: SERVICE, concurrency: 8 },
  },
  setup: async (size, ctx) => {
    const { dir, files } = await writeCorpus(size.files);
    ctx.log(`${files.length} files in ${dir}; embedding service: ${size.service.latencyMs} ms per call, 1 in ${size.service.slow.every} ${size.service.slow.ms} ms`);
    const service = await startEmbedService(size.service);
    const exercise = ctx.exercise as typeof after | undefined;
    return { size, dir, files, service, trials: {}, ...(exercise ? { exercise } : {}) };
  },
  teardown: async (input) => {
    await input.service.close();
    await removeCorpus(input.dir);
  },
  baseline: 'before',
  headline: { name: 'throughput', unit: 'files/s', better: 'higher', metric: 'throughput' },
  variants: Object.fromEntries(Object.entries(RUNS).map(([name, run]) => [name, (input: Input) => trial(input, name, run)])),
  exercise: (input) => trial(input, 'exercise', EXERCISE_RUN),
  // One call per round: a call is a whole folder (seconds for `before` in a full run).
  options: { iterations: 1, time: 0, warmupTime: 0, rounds: 2 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const n = input.files.length;
    for (const [name, all] of Object.entries(input.trials)) {
      const trials = all.slice(1); // every call but the first (cold: JIT, fresh connections), warm-up calls included
      if (trials.length === 0) continue;
      metrics.push(
        measured('throughput', 'files/s', trials.map((t) => (n * 1000) / t.ms), { variant: name, note: `${trials.length} calls of ${n} files` }),
        measured('mean requests in flight at the service', '', trials.map((t) => t.meanInFlight), {
          variant: name,
          note: `bound ${name === 'before' ? 1 : name === 'unbounded' ? 'none' : input.size.concurrency}`,
        }),
        { name: 'max requests in flight at the service', value: Math.max(...trials.map((t) => t.maxInFlight)), unit: '', variant: name },
      );
    }
    // Memory: one more call of each variant from a collected heap, sampled as it runs. Full runs only: at quick sizes
    // the figure is all garbage-collector timing.
    if (ctx.mode === 'full') {
      for (const [name, run] of Object.entries({ ...RUNS, ...(input.exercise ? { exercise: EXERCISE_RUN } : {}) })) {
        ctx.log(`peak heap: ${name}`);
        metrics.push({ name: 'peak heap above start', value: await peakHeap(() => run(input)), unit: 'bytes', variant: name });
      }
    }
    return { metrics };
  },
});
