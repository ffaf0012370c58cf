/**
 * Benchmark for 02-async-io: embed n document files through a loopback "embedding API" with 20 ms latency per call,
 * sequentially (before), with a p-limit bound (after), as a bounded ordered stream, unbounded, and with
 * Readable.map. Run: npm run t1 -- --only 02-async-io [--quick]
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { removeCorpus, writeCorpus } from './data.ts';
import type { Embedded } from './embed-file.ts';
import { startEmbedService, type EmbedService } from './embed-service.ts';
import { embedAllUnbounded, embedStreamReadable } from './variants.ts';

interface Size {
  files: number;
  latencyMs: number;
  concurrency: number;
}

interface Input {
  size: Size;
  dir: string;
  files: string[];
  service: EmbedService;
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
  unbounded: (i) => embedAllUnbounded(i.files, i.service),
};

/** A full GC, so every variant's memory is measured from the same clean start (the --expose-gc flag, set late). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Peak RSS and heap above the level at the start, sampled every 2 ms while `run` works, and its wall time. */
async function measure(run: () => Promise<unknown>): Promise<{ ms: number; rssMB: number; heapMB: number }> {
  collectGarbage();
  const m0 = process.memoryUsage();
  let rss = m0.rss;
  let heap = m0.heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  }, 2);
  const t0 = performance.now();
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  rss = Math.max(rss, m1.rss);
  heap = Math.max(heap, m1.heapUsed);
  return { ms, rssMB: (rss - m0.rss) / 2 ** 20, heapMB: (heap - m0.heapUsed) / 2 ** 20 };
}

export default defineLesson<Size, Input>({
  id: 't1/02-async-io',
  title: 'Async I/O: sequential vs. bounded concurrency (p-limit) vs. a bounded stream',
  workload:
    'read n Brown documents from files and embed each through a loopback HTTP service with a fixed latency per call (one call per file)',
  sizes: { quick: { files: 48, latencyMs: 20, concurrency: 8 }, full: { files: 500, latencyMs: 20, concurrency: 16 } },
  setup: async (size, ctx) => {
    const { dir, files } = await writeCorpus(size.files);
    ctx.log(`${files.length} files in ${dir}; embedding service with ${size.latencyMs} ms latency`);
    const service = await startEmbedService({ latencyMs: size.latencyMs });
    return { size, dir, files, service };
  },
  teardown: async (input) => {
    await input.service.close();
    await removeCorpus(input.dir);
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: RUNS,
  options: { iterations: 2, time: 100, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const [name, run] of Object.entries(RUNS)) {
      ctx.log(`throughput and memory: ${name}`);
      input.service.resetStats();
      const r = await measure(() => run(input));
      const s = input.service.stats();
      metrics.push(
        { name: 'throughput', value: input.files.length / (r.ms / 1000), unit: 'files/s', variant: name },
        { name: 'peak RSS above start', value: r.rssMB, unit: 'MB', variant: name },
        { name: 'peak heap above start', value: r.heapMB, unit: 'MB', variant: name },
        { name: 'max requests in flight at the service', value: s.maxInFlight, unit: 'requests', variant: name },
      );
    }
    return { metrics };
  },
});
