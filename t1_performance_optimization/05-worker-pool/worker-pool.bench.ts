/**
 * Benchmark for 05-worker-pool: chunk + embed (SIF over GloVe-100d) n Brown documents on the main thread vs on a
 * piscina pool. Run: npm run t1 -- --only 05-worker-pool [--quick]
 */
import { performance } from 'node:perf_hooks';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { medianMsAsync } from '../../shared/util/timing.ts';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import type { ChunkEmbedder } from './types.ts';
import { RETURN_MODES, type ReturnMode } from './work.ts';

/** Threads in the benchmark's pool; the variants use 1, 2 or all 4 of them at once. */
const POOL_THREADS = 4;

interface Size {
  docs: number;
}

interface Input {
  docs: Doc[];
  chunks: number;
  main: ChunkEmbedder;
  pool: after.PoolChunkEmbedder;
  /** ms from creating the pool until every thread had built its embedder. */
  startMs: number;
}

async function bestMs(fn: () => Promise<unknown>, reps: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Median ms for a worker to build n × dim rows and hand them back to the main thread the way `mode` says. */
async function rowsRoundTrip(input: Input, n: number, mode: ReturnMode, reps: number): Promise<number> {
  return medianMsAsync(async () => {
    const out = (await input.pool.pool.run({ n, dim: 100, mode } as never, { name: 'rows' })) as unknown as { vectors: Float32Array };
    if (out.vectors.length !== n * 100) throw new Error(`rows: got ${out.vectors.length} floats`);
  }, reps);
}

export default defineLesson<Size, Input>({
  id: 't1/05-worker-pool',
  title: 'Worker-thread pool: chunk + embed on the main thread vs a piscina pool',
  workload: 'chunk (200/40 tokens) + SIF-embed (GloVe-100d, shared with the threads) the first n Brown documents, tasks of 4 documents',
  sizes: { quick: { docs: 48 }, full: { docs: 500 } },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents and GloVe, fitting SIF`);
    const docs = await loadBrown({ limit: size.docs });
    const sif = await createDefaultEmbedder();
    const texts = docs.flatMap((d) => chunkDocument(d)).map(indexText);
    await sif.fit(texts);
    ctx.log(`starting a pool of ${POOL_THREADS} threads`);
    const t0 = performance.now();
    const pool = await after.createChunkEmbedder({ sifState: sif.state(), threads: POOL_THREADS });
    const startMs = performance.now() - t0;
    return { docs, chunks: texts.length, main: await before.createChunkEmbedder({ sifState: sif.state() }), pool, startMs };
  },
  teardown: async (input) => {
    await Promise.all([input.main.close(), input.pool.close()]);
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => input.main.embedDocs(input.docs),
    'pool, 1 thread': (input) => input.pool.embedDocs(input.docs, { parallelism: 1 }),
    after: (input) => input.pool.embedDocs(input.docs, { parallelism: 2 }),
    'pool, 4 threads': (input) => input.pool.embedDocs(input.docs, { parallelism: 4 }),
  },
  options: { iterations: 2, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const reps = ctx.mode === 'quick' ? 2 : 3;
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const mainMs = await bestMs(() => input.main.embedDocs(input.docs), reps);
    for (const threads of [1, 2, 4]) {
      points.push({ series: 'main thread', x: threads, y: (input.chunks * 1000) / mainMs });
      const ms = await bestMs(() => input.pool.embedDocs(input.docs, { parallelism: threads }), reps);
      points.push({ series: 'piscina pool', x: threads, y: (input.chunks * 1000) / ms, label: `${threads} thread${threads > 1 ? 's' : ''}` });
      metrics.push({ name: `throughput, ${threads} thread(s)`, value: (input.chunks * 1000) / ms, unit: 'chunks/s', variant: 'pool', note: `best of ${reps}` });
    }
    metrics.unshift({ name: 'throughput, main thread', value: (input.chunks * 1000) / mainMs, unit: 'chunks/s', variant: 'before', note: `best of ${reps}` });
    // How the rows come back: the whole batch with each return mode, then a bare round trip of big row blocks.
    for (const mode of RETURN_MODES) {
      const ms = await bestMs(() => input.pool.embedDocs(input.docs, { parallelism: 2, mode }), reps);
      metrics.push({ name: `batch, rows returned by ${mode}`, value: ms, unit: 'ms', variant: 'after', note: `${input.chunks} chunks × 100 floats` });
    }
    const rtReps = ctx.mode === 'quick' ? 3 : 5;
    for (const n of ctx.mode === 'quick' ? [10_000, 50_000] : [10_000, 100_000]) {
      for (const mode of RETURN_MODES) {
        const ms = await rowsRoundTrip(input, n, mode, rtReps);
        const mb = ((n * 400) / 2 ** 20).toFixed(0);
        metrics.push({ name: `round trip of ${n.toLocaleString('en-US')} rows (${mb} MB) by ${mode}`, value: ms, unit: 'ms', note: `median of ${rtReps}` });
      }
    }
    metrics.push({ name: `pool start-up (${POOL_THREADS} threads)`, value: input.startMs, unit: 'ms', variant: 'after', note: 'once per process: load modules, wrap the shared GloVe, build the word Map' });
    return {
      metrics,
      curves: [{ id: 'throughput-vs-threads', title: 'Chunk + embed throughput against threads (2 cores)', xLabel: 'threads working', yLabel: 'chunks/s', points }],
    };
  },
});
