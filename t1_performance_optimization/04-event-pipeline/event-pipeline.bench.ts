/**
 * Benchmark for 04-event-pipeline: chunk → embed (SIF GloVe, batches of 64) → index (BM25 + flat) over n Brown
 * documents, stages connected by polled arrays (before) or streams with backpressure (after).
 * Run: npm run t1 -- --only 04-event-pipeline [--quick]
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import type { PipelineOptions, PipelineResult } from './stages.ts';

interface Size {
  docs: number;
}

interface Input {
  docs: Doc[];
  chunks: number;
  opts: PipelineOptions;
}

/** A full GC before each memory measurement, so garbage of the previous run does not count. */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface MemoryRun {
  ms: number;
  peakHeapMB: number;
  peakRssMB: number;
  /** Longest gap between two 2 ms sampler ticks: how long the event loop was blocked at most. */
  maxStallMs: number;
  result: PipelineResult;
}

/** Runs `fn` with a 2 ms sampler of heapUsed / RSS (growth over the value just before) and of event-loop stalls. */
async function sampled(fn: () => Promise<PipelineResult>): Promise<MemoryRun> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage.rss();
  let peakHeap = heap0;
  let peakRss = rss0;
  let last = performance.now();
  let maxStall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last);
    last = now;
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 2);
  const t0 = performance.now();
  try {
    const result = await fn();
    const ms = performance.now() - t0;
    maxStall = Math.max(maxStall, performance.now() - last);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    return { ms, result, peakHeapMB: (peakHeap - heap0) / 2 ** 20, peakRssMB: (peakRss - rss0) / 2 ** 20, maxStallMs: maxStall };
  } finally {
    clearInterval(timer);
  }
}

export default defineLesson<Size, Input>({
  id: 't1/04-event-pipeline',
  title: 'Event pipeline: polling loops between stages vs streams with backpressure',
  workload: 'chunk → embed (SIF GloVe-100d, batches of 64) → index (BM25 + flat) the first n Brown documents (~12 chunks each)',
  sizes: { quick: { docs: 40 }, full: { docs: 500 } },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents and GloVe, fitting SIF`);
    const docs = await loadBrown({ limit: size.docs });
    const embedder = await createDefaultEmbedder();
    const chunks = docs.flatMap((d) => chunkDocument(d)).map(indexText);
    await embedder.fit(chunks);
    return { docs, chunks: chunks.length, opts: { embedder, batchSize: 64, highWaterMark: 64 } };
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => before.runPipeline(input.docs, input.opts),
    after: (input) => after.runPipeline(input.docs, input.opts),
  },
  options: { iterations: 4, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const reps = ctx.mode === 'quick' ? 2 : 3;
    for (const [name, run] of [
      ['before', before.runPipeline],
      ['after', after.runPipeline],
    ] as const) {
      const runs: MemoryRun[] = [];
      for (let i = 0; i < reps; i++) runs.push(await sampled(() => run(input.docs, input.opts)));
      const best = (f: (r: MemoryRun) => number) => Math.min(...runs.map(f));
      const worst = (f: (r: MemoryRun) => number) => Math.max(...runs.map(f));
      metrics.push(
        { name: 'throughput', value: (input.chunks * 1000) / best((r) => r.ms), unit: 'chunks/s', variant: name, note: `best of ${reps}` },
        { name: 'peak heap growth', value: worst((r) => r.peakHeapMB), unit: 'MB', variant: name, note: 'heapUsed sampled every 2 ms, over the value after a full GC' },
        { name: 'peak RSS growth', value: worst((r) => r.peakRssMB), unit: 'MB', variant: name },
        { name: 'chunks in flight (max)', value: runs[0].result.stats.maxBuffered, unit: 'chunks', variant: name, note: `of ${input.chunks}` },
        { name: 'longest event-loop stall', value: worst((r) => r.maxStallMs), unit: 'ms', variant: name },
      );
    }
    return { metrics };
  },
});
