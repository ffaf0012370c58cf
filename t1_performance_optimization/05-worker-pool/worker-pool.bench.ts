/**
 * Benchmark for 05-worker-pool: chunk + embed (SIF over GloVe-100d) n Brown documents on the main thread vs on a
 * piscina pool. Run: npm run t1 -- --only 05-worker-pool [--quick] [--impl exercise]
 *
 * Headline: throughput in chunks/s, the median over every call of each variant (the batch's chunks / the call's time).
 * Beside it, counted on the same calls (probe.ts): tasks in flight at once and bytes of rows copied between threads.
 */
import { performance } from 'node:perf_hooks';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { medianMsAsync } from '../../shared/util/timing.ts';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { bytesCopied, watchPool, type PoolCounts, type PoolWatch } from './probe.ts';
import type { ChunkEmbedder } from './types.ts';
import { RETURN_MODES, type ReturnMode } from './work.ts';

interface Size {
  docs: number;
  /** Threads in the benchmark's pool; the variants let 1 or 2 of them work at once (and the full run's curve 4). */
  poolThreads: number;
}

interface Pooled {
  embedder: after.PoolChunkEmbedder;
  watch: PoolWatch;
}

interface Input {
  size: Size;
  docs: Doc[];
  chunks: number;
  main: ChunkEmbedder;
  pool: Pooled;
  /** With --impl exercise: the learner's embedder (2 threads), or why it could not be created. */
  exercise?: Pooled | { error: string };
  /** ms from creating the pool until every thread had built its embedder. */
  startMs: number;
  /** Per variant: each call's time (ms) and, for pooled variants, what it asked of the pool. */
  calls: Record<string, { ms: number[]; counts: PoolCounts[] }>;
}

/** Calls per variant and round (the runner's warm-up makes as many first). */
const ITERATIONS = 2;
/** Threads the after variant (and the learner's embedder) let work at once: the machine's 2 cores. */
const AFTER_THREADS = 2;

const HEADLINE = 'throughput';

/**
 * One call at a time. tinybench calls a variant once more, without awaiting it, when it is added (to learn whether
 * it is async), right before the timed calls: queued here, that call cannot overlap the first timed one and double
 * the tasks in flight. Every call, that one included, is recorded; the headline takes their median.
 */
let queue: Promise<unknown> = Promise.resolve();

/** One timed call of `fn`, recorded under `name` (with the pool's counts when `pooled` is given). */
function timedCall(input: Input, name: string, fn: () => Promise<unknown>, pooled?: Pooled): Promise<unknown> {
  const call = queue.then(async () => {
    pooled?.watch.reset();
    const t0 = performance.now();
    const out = await fn();
    const rec = (input.calls[name] ??= { ms: [], counts: [] });
    rec.ms.push(performance.now() - t0);
    if (pooled) rec.counts.push(pooled.watch.counts);
    return out;
  });
  queue = call.catch(() => undefined);
  return call;
}

/** Median ms for a worker to build n × dim rows and hand them back to the main thread the way `mode` says. */
async function rowsRoundTrip(input: Input, n: number, mode: ReturnMode, reps: number): Promise<number> {
  return medianMsAsync(async () => {
    const out = (await input.pool.embedder.pool.run({ n, dim: 100, mode } as never, { name: 'rows' })) as unknown as { vectors: Float32Array };
    if (out.vectors.length !== n * 100) throw new Error(`rows: got ${out.vectors.length} floats`);
  }, reps);
}

const chunksPerSecond = (input: Input, ms: number[]) => ms.map((t) => (input.chunks * 1000) / t);

export default defineLesson<Size, Input>({
  id: 't1/05-worker-pool',
  title: 'Worker-thread pool: chunk + embed on the main thread vs a piscina pool',
  workload: 'chunk (200/40 tokens) + SIF-embed (GloVe-100d, shared with the threads) the first n Brown documents, tasks of 4 documents',
  sizes: { quick: { docs: 24, poolThreads: 2 }, full: { docs: 500, poolThreads: 4 } },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents and GloVe, fitting SIF`);
    const docs = await loadBrown({ limit: size.docs });
    const sif = await createDefaultEmbedder();
    const texts = docs.flatMap((d) => chunkDocument(d)).map(indexText);
    await sif.fit(texts);
    const ex = ctx.exercise as typeof after | undefined;
    ctx.log(`starting a pool of ${size.poolThreads} threads${ex ? ' and your exercise’s pool' : ''}`);
    const t0 = performance.now();
    const embedder = await after.createChunkEmbedder({ sifState: sif.state(), threads: size.poolThreads });
    const startMs = performance.now() - t0;
    let exercise: Input['exercise'];
    if (ex) {
      try {
        const e = await ex.createChunkEmbedder({ sifState: sif.state(), threads: AFTER_THREADS });
        exercise = { embedder: e, watch: watchPool(e.pool) };
      } catch (err) {
        exercise = { error: (err as Error).message };
      }
    }
    return {
      size,
      docs,
      chunks: texts.length,
      main: await before.createChunkEmbedder({ sifState: sif.state() }),
      pool: { embedder, watch: watchPool(embedder.pool) },
      ...(exercise ? { exercise } : {}),
      startMs,
      calls: {},
    };
  },
  teardown: async (input) => {
    const ex = input.exercise && 'embedder' in input.exercise ? input.exercise : undefined;
    await Promise.all([input.main.close(), input.pool.embedder.close(), ex?.embedder.close()]);
  },
  baseline: 'before',
  headline: { name: 'chunk + embed throughput', unit: 'chunks/s', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => timedCall(input, 'before', () => input.main.embedDocs(input.docs)),
    'pool, 1 thread': (input) =>
      timedCall(input, 'pool, 1 thread', () => input.pool.embedder.embedDocs(input.docs, { parallelism: 1 }), input.pool),
    after: (input) =>
      timedCall(input, 'after', () => input.pool.embedder.embedDocs(input.docs, { parallelism: AFTER_THREADS }), input.pool),
  },
  exercise: (input) => {
    const ex = input.exercise!;
    if ('error' in ex) throw new Error(`createChunkEmbedder failed: ${ex.error}`);
    return timedCall(input, EXERCISE, () => ex.embedder.embedDocs(input.docs), ex);
  },
  options: { iterations: ITERATIONS, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const threadsOf: Record<string, number> = { before: 1, 'pool, 1 thread': 1, after: AFTER_THREADS, [EXERCISE]: AFTER_THREADS };
    for (const [name, rec] of Object.entries(input.calls)) {
      const ms = rec.ms;
      if (ms.length === 0) continue; // the variant failed (an unfinished exercise): its row says why
      const v = { variant: name };
      const tput = measured(HEADLINE, 'chunks/s', chunksPerSecond(input, ms), { ...v, stat: 'median', note: `${input.chunks} chunks; median of ${ms.length} calls` });
      metrics.push(tput);
      if (name !== EXERCISE) {
        points.push({ series: name === 'before' ? 'main thread' : 'piscina pool', x: threadsOf[name], y: tput.value, label: name });
      }
      if (rec.counts.length > 0) {
        metrics.push(
          measured('tasks in flight at once (most)', '', rec.counts.map((c) => c.maxInFlight), { ...v, note: `of ${rec.counts[0].tasks} tasks per batch` }),
          measured('row bytes copied between threads per batch', 'bytes', rec.counts.map(bytesCopied), {
            ...v,
            note: `${rec.counts[0].bytes.transfer.toLocaleString('en-US')} bytes transferred`,
          }),
        );
      }
    }
    const reps = ctx.mode === 'quick' ? 3 : 5;
    if (input.size.poolThreads >= 4) {
      // the curve's last point: more threads than cores
      const ms: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        await input.pool.embedder.embedDocs(input.docs, { parallelism: 4 });
        ms.push(performance.now() - t0);
      }
      const tput = measured('throughput with 4 threads working', 'chunks/s', chunksPerSecond(input, ms), { note: `${reps} calls, parallelism 4` });
      metrics.push(tput);
      points.push({ series: 'piscina pool', x: 4, y: tput.value, label: 'pool, 4 threads' });
      // the whole batch with each return mode
      for (const mode of RETURN_MODES) {
        const t = await medianMsAsync(() => input.pool.embedder.embedDocs(input.docs, { parallelism: AFTER_THREADS, mode }), 3);
        metrics.push({ name: `batch, rows returned by ${mode}`, value: t, unit: 'ms', variant: 'after', note: `${input.chunks} chunks × 100 floats, median of 3` });
      }
    }
    // How big blocks of rows come back: a bare round trip (no embedding work), per return mode.
    for (const n of ctx.mode === 'quick' ? [10_000] : [10_000, 100_000]) {
      for (const mode of RETURN_MODES) {
        const ms = await rowsRoundTrip(input, n, mode, reps);
        metrics.push({
          name: `round trip of ${n.toLocaleString('en-US')} rows (${(n * 400).toLocaleString('en-US')} bytes) by ${mode}`,
          value: ms,
          unit: 'ms',
          note: `median of ${reps}`,
        });
      }
    }
    metrics.push({
      name: `pool start-up (${input.size.poolThreads} threads)`,
      value: input.startMs,
      unit: 'ms',
      variant: 'after',
      note: 'once per process: load modules, wrap the shared GloVe, build the word Map',
    });
    return {
      metrics,
      curves: [{ id: 'throughput-vs-threads', title: 'Chunk + embed throughput against threads working (2 cores)', xLabel: 'threads working', yLabel: 'chunks/s', points }],
    };
  },
});
