/**
 * Benchmark for 12-approximate-search: one top-10 cosine query over n GloVe word vectors, exact vs. HNSW (hnswlib,
 * usearch), plus an efSearch sweep drawn as recall@10 against queries per second.
 * Run: npm run t1 -- --only 12-approximate-search [--quick]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { groundTruth, loadSplit, recallAtK, type GloveSplit } from './data.ts';
import { buildUsearchIndex } from './variants.ts';

const K = 10;
const EFS = [10, 16, 32, 64, 128, 256];

interface Size {
  /** Data vectors: the most frequent GloVe words, minus the held-out queries. */
  n: number;
  queries: number;
}

interface Input {
  split: GloveSplit;
  truth: number[][];
  exact: before.AnnIndex;
  hnsw: before.AnnIndex;
  usearch: before.AnnIndex;
  cursor: Record<string, number>;
  metrics: Metric[];
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
}

function rssMB(): number {
  return process.memoryUsage().rss / 1024 ** 2;
}

function next(input: Input, variant: string, index: before.AnnIndex): unknown {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return index.search(input.split.queries[i % input.split.queries.length], K);
}

/**
 * Recall@10 over every held-out query, and single-thread queries per second: the median of `passes` timed passes
 * over the first `timedQueries` queries (the machine may be shared; one pass of a few ms is easily disturbed).
 */
function sweepPoint(index: before.AnnIndex, input: Input, passes: number, timedQueries = Infinity): { recall: number; qps: number } {
  const qs = input.split.queries;
  const got = qs.map((q) => index.search(q, K).map((h) => h.label)); // also the warm-up
  const timed = qs.slice(0, Math.min(qs.length, timedQueries));
  const times: number[] = [];
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    for (const q of timed) index.search(q, K);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { recall: recallAtK(got, input.truth, K), qps: timed.length / (times[times.length >> 1] / 1000) };
}

export default defineLesson<Size, Input>({
  id: 't1/12-approximate-search',
  title: 'Approximate search: exact scan vs. HNSW (hnswlib, usearch) on GloVe words',
  workload: `one top-${K} cosine query (a held-out GloVe word, in rotation) against n GloVe-100d word vectors; HNSW at M=16, efConstruction=100, ef=64`,
  sizes: { quick: { n: 20_000, queries: 200 }, full: { n: 200_000, queries: 1_000 } },
  setup: async (size, ctx) => {
    const split = await loadSplit(size.n, size.queries);
    const metrics: Metric[] = [];
    ctx.log(`ground truth: exact top-${K} of ${size.queries} queries over ${size.n} vectors`);
    const [truth, truthMs] = timed(() => groundTruth(split.data, split.queries, K));
    metrics.push({ name: 'ground truth (exact, all queries)', value: truthMs, unit: 'ms', variant: 'before' });

    const builds: Array<[string, (v: Float32Array[]) => before.AnnIndex]> = [
      ['before', before.buildIndex],
      ['after', after.buildIndex],
      ['usearch', buildUsearchIndex],
    ];
    const built: Record<string, before.AnnIndex> = {};
    for (const [name, build] of builds) {
      ctx.log(`building ${name}`);
      global.gc?.();
      const rss0 = rssMB();
      const [index, ms] = timed(() => build(split.data));
      built[name] = index;
      metrics.push({ name: 'build time', value: ms, unit: 'ms', variant: name, note: 'one thread' });
      metrics.push({ name: 'RSS growth while building', value: rssMB() - rss0, unit: 'MB', variant: name, note: 'rough: includes garbage not yet collected' });
    }
    metrics.push({
      name: 'vectors alone (n × dim × 4 B)',
      value: (split.data.length * split.dim * 4) / 1024 ** 2,
      unit: 'MB',
      note: 'HNSW adds about 2M × 4 B of links per vector on the bottom layer (M = 16: +128 B, i.e. +32%)',
    });
    return { split, truth, exact: built.before, hnsw: built.after, usearch: built.usearch, cursor: {}, metrics };
  },
  teardown: (input) => {
    input.exact.close();
    input.hnsw.close();
    input.usearch.close();
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => next(input, 'before', input.exact),
    'after (hnswlib, ef=64)': (input) => next(input, 'hnswlib', input.hnsw),
    'usearch (ef=64)': (input) => next(input, 'usearch', input.usearch),
  },
  extras: (input, ctx) => {
    const points: CurvePoint[] = [];
    const metrics = [...input.metrics];
    const passes = ctx.mode === 'quick' ? 5 : 3;
    const exact = sweepPoint(input.exact, input, passes, 100);
    points.push({ series: 'exact', x: exact.qps, y: exact.recall, label: 'exact' });
    metrics.push({ name: 'recall@10', value: exact.recall, unit: 'fraction', variant: 'before' });
    for (const [series, index] of [
      ['hnswlib', input.hnsw],
      ['usearch', input.usearch],
    ] as const) {
      for (const ef of EFS) {
        index.setEf(ef);
        const p = sweepPoint(index, input, passes);
        ctx.log(`${series} ef=${ef}: recall@10 ${p.recall.toFixed(3)}, ${p.qps.toFixed(0)} QPS`);
        points.push({ series, x: p.qps, y: p.recall, label: `ef=${ef}` });
        if (ef === after.DEFAULTS.ef) metrics.push({ name: 'recall@10 at ef=64', value: p.recall, unit: 'fraction', variant: series });
      }
      index.setEf(after.DEFAULTS.ef);
    }
    return {
      metrics,
      curves: [
        {
          id: 'recall-vs-qps',
          title: `recall@10 against queries per second (one thread), efSearch sweep, ${input.split.data.length} GloVe words`,
          xLabel: 'queries per second (log)',
          yLabel: 'recall@10',
          xLog: true,
          points,
        },
      ],
    };
  },
});
