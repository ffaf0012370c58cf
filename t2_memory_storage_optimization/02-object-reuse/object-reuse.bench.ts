/**
 * Benchmark for 02-object-reuse: fusing one hybrid query's candidate lists (the engine's BM25 and dense top-`depth`
 * over Brown chunks) into its top 10 with the engine's default fusion (weighted, min-max normalised, weights 1 and
 * 0.3): an object per candidate (before) vs. parallel typed arrays reused from query to query (after), beside the
 * engine's own `fuseTopK` (shared/retrieve/fusion.ts), which works like after.ts.
 * Run: npm run t2 -- --only 02-object-reuse [--quick] [--impl exercise]
 *
 * Headline: bytes allocated per fusion, measured around single calls in windows without a garbage collection
 * (01-memory-pool/alloc.ts). Other figures, over a loop of fusions: throughput, the allocation rate it implies,
 * collections and their pauses per 1,000 fusions, p99 latency; and bytes per candidate (the slope between two depths).
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { DEFAULT_FUSION } from '../../shared/engine.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { fuseTopK } from '../../shared/retrieve/fusion.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { bytesPerCall, median, warmUp } from '../01-memory-pool/alloc.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { loadWorkload, type WorkloadSize } from './data.ts';

type Mod = typeof after;

const K = 10;
const HEADLINE = 'bytes allocated per fusion';
const ENGINE = 'engine: fuseTopK';

interface Size extends WorkloadSize {
  /** Fusions per trial of the loop (throughput, GC and p99 figures). */
  loop: number;
}

interface Input {
  size: Size;
  chunks: number;
  lists: ScoredLabel[][][];
  /** Candidates per fusion, on average. */
  candidates: number;
  fusers: Record<string, after.Fuser>;
  cursor: Record<string, number>;
}

function fusion(input: Input, variant: string): unknown {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return input.fusers[variant].fuse(input.lists[i % input.lists.length], K);
}

interface LoopTrial {
  latencies: number[];
  ms: number;
  gcCount: number;
  gcPauseMs: number;
}

/** `n` fusions back to back, each timed; the collections that started during the loop. */
async function fusionLoop(f: after.Fuser, lists: ScoredLabel[][][], n: number): Promise<LoopTrial> {
  const gcs: Array<{ start: number; duration: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as PerformanceEntry[]) gcs.push({ start: e.startTime, duration: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  const latencies = new Array<number>(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    f.fuse(lists[i % lists.length], K);
    latencies[i] = performance.now() - a;
  }
  const t1 = performance.now();
  await tick();
  await tick();
  obs.disconnect();
  const inLoop = gcs.filter((g) => g.start >= t0 && g.start <= t1);
  return { latencies, ms: t1 - t0, gcCount: inLoop.length, gcPauseMs: inLoop.reduce((s, g) => s + g.duration, 0) };
}

export default defineLesson<Size, Input>({
  id: 't2/02-object-reuse',
  title: 'Object reuse: an object per candidate vs. parallel typed arrays reused from query to query',
  workload:
    'fuse one hybrid query’s BM25 and dense top-`depth` lists (Bm25Index and FlatIndex of SIF GloVe vectors over ' +
    'n Brown documents, queries cut from its sentences) into the top 10, weighted min-max fusion (weights 1, 0.3)',
  sizes: {
    quick: { docs: 60, depth: 200, queries: 32, loop: 800 },
    full: { docs: 500, depth: 1000, queries: 64, loop: 5_000 },
  },
  setup: async (size, ctx) => {
    const { chunks, lists } = await loadWorkload(size, ctx.log);
    const ex = ctx.exercise as Mod | undefined;
    const candidates = lists.reduce((s, ls) => s + ls[0].length + ls[1].length, 0) / lists.length;
    return {
      size,
      chunks,
      lists,
      candidates,
      fusers: {
        before: before.createFuser(DEFAULT_FUSION),
        after: after.createFuser(DEFAULT_FUSION),
        [ENGINE]: { fuse: (ls, k) => fuseTopK(ls, k, DEFAULT_FUSION) },
        ...(ex ? { [EXERCISE]: ex.createFuser(DEFAULT_FUSION) } : {}),
      },
      cursor: {},
    };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => fusion(input, 'before'),
    after: (input) => fusion(input, 'after'),
    [ENGINE]: (input) => fusion(input, ENGINE),
  },
  exercise: (input) => fusion(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const trials = 3;
    const { lists } = input;
    const shallow = lists.map((ls) => ls.map((l) => l.slice(0, 20)));
    const shallowCandidates = shallow.reduce((s, ls) => s + ls[0].length + ls[1].length, 0) / shallow.length;
    const about = `${Math.round(input.candidates)} candidates per fusion on average (depth ${input.size.depth}, ${input.chunks} chunks)`;
    for (const [name, f] of Object.entries(input.fusers)) {
      const v = { variant: name };
      try {
        ctx.log(`${name}: bytes per fusion, ${trials} × ${input.size.loop} fusions in a loop`);
        warmUp(() => f.fuse(lists[Math.floor(Math.random() * lists.length)], K), ctx.mode === 'quick' ? 200 : 1_500);
        let i = 0;
        const windows = ctx.mode === 'quick' ? 41 : 101;
        const bytes = await bytesPerCall(() => f.fuse(lists[i++ % lists.length], K), { windows });
        warmUp(() => f.fuse(shallow[Math.floor(Math.random() * shallow.length)], K), 100);
        const shallowBytes = await bytesPerCall(() => f.fuse(shallow[i++ % shallow.length], K), { windows: 21 });
        const loops: LoopTrial[] = [];
        for (let t = 0; t < trials; t++) loops.push(await fusionLoop(f, lists, input.size.loop));
        const per1k = 1000 / input.size.loop;
        const perSecond = loops.map((l) => (input.size.loop * 1000) / l.ms);
        const bytesMedian = median(bytes);
        metrics.push(
          measured(HEADLINE, 'bytes', bytes, {
            ...v,
            stat: 'median',
            note: `median of ${bytes.length} single-fusion windows without a GC; ${about}`,
          }),
          {
            name: 'bytes allocated per candidate',
            value: (bytesMedian - median(shallowBytes)) / (input.candidates - shallowCandidates),
            unit: 'bytes',
            variant: name,
            note: `(bytes at depth ${input.size.depth} − bytes at depth 20) / extra candidates`,
          },
          measured('throughput', 'fusions/s', perSecond, { ...v, note: `${trials} loops of ${input.size.loop} fusions` }),
          measured('allocation rate', 'MB/s', perSecond.map((r) => (r * bytesMedian) / 1e6), { ...v, note: 'bytes per fusion × fusions per second' }),
          measured('collections per 1,000 fusions', '', loops.map((l) => l.gcCount * per1k), { ...v, note: 'PerformanceObserver gc entries' }),
          measured('GC pause per 1,000 fusions', 'ms', loops.map((l) => l.gcPauseMs * per1k), v),
          measured('p99 fusion latency in the loop', 'ms', loops.flatMap((l) => l.latencies), {
            ...v,
            stat: 'p99',
            note: `${trials * input.size.loop} fusions`,
          }),
        );
      } catch (err) {
        ctx.log(`${name}: ${(err as Error).message}`);
      }
    }
    return { metrics };
  },
});
