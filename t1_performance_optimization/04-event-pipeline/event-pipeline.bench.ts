/**
 * Benchmark for 04-event-pipeline: chunk → embed (SIF GloVe, batches of 64) → index (BM25 + flat) over n Brown
 * documents, stages connected by polled arrays (before) or streams with backpressure (after).
 * Run: npm run t1 -- --only 04-event-pipeline [--quick] [--impl exercise]
 *
 * Headline: chunks in flight at the peak, counted on every call from outside the pipeline (probe.ts: a counting
 * source and sink), so it needs no trust in the pipeline's own bookkeeping and is the same on any machine.
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { probeRun, type ProbeReport } from './probe.ts';
import type { PipelineOptions } from './stages.ts';

type Mod = typeof after;

interface Size {
  docs: number;
}

interface Calls {
  probes: ProbeReport[];
  ms: number[];
}

interface Input {
  docs: Doc[];
  chunks: number;
  opts: PipelineOptions;
  /** With --impl exercise: the learner's module. */
  exercise?: Mod;
  /** What every call of each variant counted and how long it took. */
  calls: Record<string, Calls>;
}

/** Calls per variant and round (the runner's warm-up makes as many first). */
const ITERATIONS = 2;

const HEADLINE = 'chunks in flight (peak)';

/**
 * One call at a time. tinybench calls a variant once more, without awaiting it, when it is added (to learn whether
 * it is async), right before the timed calls: queued here, that call cannot run interleaved with the first timed one.
 * Every call, that one included, is recorded.
 */
let queue: Promise<unknown> = Promise.resolve();

/** One probed call of `mod`'s pipeline, recorded under `name`. */
function probedCall(input: Input, name: string, mod: Mod): Promise<ProbeReport> {
  const call = queue.then(async () => {
    const t0 = performance.now();
    const r = await probeRun(mod.runPipeline, input.docs, input.opts);
    const calls = (input.calls[name] ??= { probes: [], ms: [] });
    calls.ms.push(performance.now() - t0);
    calls.probes.push(r);
    return r;
  });
  queue = call.catch(() => undefined);
  return call;
}

/** A full GC before each memory measurement, so garbage of the previous run does not count. */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface SampledRun {
  peakHeapBytes: number;
  /** Longest gap between two 2 ms sampler ticks: how long the event loop was blocked at most. */
  maxStallMs: number;
}

/** Runs `fn` with a 2 ms sampler of heapUsed (growth over the value after a full GC) and of event-loop stalls. */
async function sampled(fn: () => Promise<unknown>): Promise<SampledRun> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  let peakHeap = heap0;
  let last = performance.now();
  let maxStall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last);
    last = now;
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 2);
  try {
    await fn();
    maxStall = Math.max(maxStall, performance.now() - last);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    return { peakHeapBytes: peakHeap - heap0, maxStallMs: maxStall };
  } finally {
    clearInterval(timer);
  }
}

export default defineLesson<Size, Input>({
  id: 't1/04-event-pipeline',
  title: 'Event pipeline: polling loops between stages vs streams with backpressure',
  workload:
    'chunk → embed (SIF GloVe-100d, batches of 64) → index (BM25 + flat) the first n Brown documents (~13 chunks ' +
    'each), from a counting source into a counting sink',
  sizes: { quick: { docs: 40 }, full: { docs: 500 } },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents and GloVe, fitting SIF`);
    const docs = await loadBrown({ limit: size.docs });
    const embedder = await createDefaultEmbedder();
    const texts = docs.flatMap((d) => chunkDocument(d)).map(indexText);
    await embedder.fit(texts);
    const ex = ctx.exercise as Mod | undefined;
    return {
      docs,
      chunks: texts.length,
      opts: { embedder, batchSize: 64, highWaterMark: 64 },
      ...(ex ? { exercise: ex } : {}),
      calls: {},
    };
  },
  baseline: 'before',
  headline: { name: 'chunks in flight at the peak', unit: 'chunks', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => probedCall(input, 'before', before),
    after: (input) => probedCall(input, 'after', after),
  },
  exercise: (input) => probedCall(input, EXERCISE, input.exercise!),
  options: { iterations: ITERATIONS, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const mods: Array<[string, Mod]> = [
      ['before', before],
      ['after', after],
      ...(input.exercise ? [[EXERCISE, input.exercise] as [string, Mod]] : []),
    ];
    const reps = ctx.mode === 'quick' ? 1 : 2;
    for (const [name, mod] of mods) {
      const calls = input.calls[name];
      if (!calls || calls.probes.length === 0) continue; // the variant failed (an unfinished exercise): its row says why
      const v = { variant: name };
      metrics.push(
        measured(HEADLINE, 'chunks', calls.probes.map((p) => p.maxInFlight), {
          ...v,
          note: `of ${input.chunks}: taken from the source, not yet through the sink; every call`,
        }),
        measured('most batches between two event-loop turns', '', calls.probes.map((p) => p.longestSlice), {
          ...v,
          note: `of ${calls.probes[0].batches}`,
        }),
        measured('throughput', 'chunks/s', calls.ms.map((ms) => (input.chunks * 1000) / ms), { ...v, stat: 'median', note: `median of ${calls.ms.length} calls` }),
      );
      // Memory and the longest stall in ms, on runs of their own (a 2 ms sampler; no probe).
      try {
        const runs: SampledRun[] = [];
        for (let i = 0; i < reps; i++) runs.push(await sampled(() => mod.runPipeline(input.docs, input.opts)));
        metrics.push(
          measured('longest event-loop stall', 'ms', runs.map((r) => r.maxStallMs), { ...v, stat: 'max', note: `worst of ${reps}, 2 ms sampler` }),
          measured('peak heap growth', 'bytes', runs.map((r) => r.peakHeapBytes), { ...v, stat: 'max', note: 'heapUsed sampled every 2 ms, over the value after a full GC' }),
        );
      } catch (err) {
        ctx.log(`${name}: sampled run failed: ${(err as Error).message}`);
      }
    }
    return { metrics };
  },
});
