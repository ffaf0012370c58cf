/**
 * Benchmark for 12-approximate-search: one top-10 cosine query over n GloVe word vectors, exact vs. HNSW (hnswlib,
 * usearch). The headline is single-thread queries per second with recall@10 at or above 0.95, each variant at its own
 * settings; an efSearch sweep draws recall@10 against queries per second.
 * Run: npm run t1 -- --only 12-approximate-search [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { groundTruth, loadSplit, recallAtK, type GloveSplit } from './data.ts';
import { buildUsearchIndex } from './variants.ts';

const K = 10;
/** The recall the headline requires: a faster index that misses it does not count as faster. */
const FLOOR = 0.95;
const QPS = `queries per second at recall@10 ≥ ${FLOOR}`;
/** Timed queries per pass at most (the exact scan at full size is slow); recall always uses every held-out query. */
const TIMED = 200;

interface Size {
  /** Data vectors: the most frequent GloVe words, minus the held-out queries. */
  n: number;
  queries: number;
  /** efSearch values swept for hnswlib and usearch. */
  efs: number[];
  /** Timed passes per measured point: the spread of its queries per second. */
  passes: number;
}

interface Input {
  size: Size;
  split: GloveSplit;
  truth: number[][];
  /** Variant name → its index: before, hnswlib, usearch, and the exercise's with --impl exercise. */
  indexes: Record<string, before.AnnIndex>;
  cursor: Record<string, number>;
  metrics: Metric[];
}

/** The variant rows and the index each one searches. */
const ROWS = {
  before: 'before',
  'after (hnswlib, ef=64)': 'hnswlib',
  'usearch (ef=64)': 'usearch',
} as const;

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
}

function next(input: Input, key: string): unknown {
  const i = input.cursor[key] ?? 0;
  input.cursor[key] = i + 1;
  return input.indexes[key].search(input.split.queries[i % input.split.queries.length], K);
}

/**
 * recall@10 and queries per second (one thread) of each timed pass. Recall is taken over every held-out query, or
 * over the timed ones only for the exact scan (`exact`), whose recall is 1 by construction and whose pass is slow.
 */
function measurePoint(index: before.AnnIndex, input: Input, exact = false): { recall: number; qps: number[] } {
  const all = input.split.queries;
  const timedQs = all.slice(0, Math.min(all.length, TIMED));
  const qs = exact ? timedQs : all;
  const got = qs.map((q) => index.search(q, K).map((h) => h.label)); // also the warm-up
  const qps: number[] = [];
  for (let p = 0; p < input.size.passes; p++) {
    const t0 = performance.now();
    for (const q of timedQs) index.search(q, K);
    qps.push(timedQs.length / ((performance.now() - t0) / 1000));
  }
  return { recall: recallAtK(got, input.truth.slice(0, qs.length), K), qps };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export default defineLesson<Size, Input>({
  id: 't1/12-approximate-search',
  title: 'Approximate search: exact scan vs. HNSW (hnswlib, usearch) on GloVe words',
  workload:
    `one top-${K} cosine query (a held-out GloVe word, in rotation) against n GloVe-100d word vectors; HNSW at M=16, ` +
    `efConstruction=100, ef=64; the headline counts a variant's queries per second only with recall@10 ≥ ${FLOOR}`,
  sizes: {
    quick: { n: 5_000, queries: 100, efs: [10, 16, 32, 64, 128], passes: 5 },
    full: { n: 50_000, queries: 500, efs: [10, 16, 32, 64, 128, 256], passes: 3 },
  },
  setup: async (size, ctx) => {
    const split = await loadSplit(size.n, size.queries);
    const metrics: Metric[] = [];
    ctx.log(`ground truth: exact top-${K} of ${size.queries} queries over ${size.n} vectors`);
    const [truth, truthMs] = timed(() => groundTruth(split.data, split.queries, K));
    metrics.push({ name: 'ground truth (exact, all queries)', value: truthMs, unit: 'ms', variant: 'before' });

    const ex = ctx.exercise as typeof after | undefined;
    const builds: Array<[string, (v: Float32Array[]) => before.AnnIndex]> = [
      ['before', before.buildIndex],
      ['hnswlib', after.buildIndex],
      ['usearch', buildUsearchIndex],
      ...(ex ? [[EXERCISE, ex.buildIndex] as [string, (v: Float32Array[]) => before.AnnIndex]] : []),
    ];
    const indexes: Record<string, before.AnnIndex> = {};
    const variantOf = (key: string) => Object.entries(ROWS).find(([, k]) => k === key)?.[0] ?? key;
    for (const [key, build] of builds) {
      ctx.log(`building ${key}`);
      global.gc?.();
      const rss0 = process.memoryUsage().rss;
      const [index, ms] = timed(() => build(split.data));
      indexes[key] = index;
      const variant = variantOf(key);
      metrics.push({ name: 'build time', value: ms, unit: 'ms', variant, note: 'one thread' });
      metrics.push({ name: 'RSS growth while building', value: process.memoryUsage().rss - rss0, unit: 'bytes', variant, note: 'rough: includes garbage not yet collected' });
    }
    metrics.push({
      name: 'vectors alone (n × dim × 4 B)',
      value: split.data.length * split.dim * 4,
      unit: 'bytes',
      note: 'HNSW adds about 2M × 4 B of links per vector on the bottom layer (M = 16: +128 B, i.e. +32%)',
    });
    return { size, split, truth, indexes, cursor: {}, metrics };
  },
  teardown: (input) => {
    for (const index of Object.values(input.indexes)) index.close();
  },
  baseline: 'before',
  headline: { name: QPS, unit: 'queries/s', better: 'higher', metric: QPS },
  variants: Object.fromEntries(Object.entries(ROWS).map(([variant, key]) => [variant, (input: Input) => next(input, key)])),
  exercise: (input) => next(input, EXERCISE),
  extras: (input, ctx) => {
    const metrics = [...input.metrics];
    const points: CurvePoint[] = [];
    const variants: Array<[string, string]> = Object.entries(ROWS);
    if (input.indexes[EXERCISE]) variants.push([EXERCISE, EXERCISE]);

    // The headline: each variant at its own settings (hnswlib and usearch at ef = 64, the exercise at its defaults).
    for (const [variant, key] of variants) {
      const p = measurePoint(input.indexes[key], input, key === 'before');
      const below = p.recall < FLOOR;
      if (below) ctx.log(`warning: ${variant} has recall@10 ${p.recall.toFixed(3)}, below the ${FLOOR} floor: its speed does not count`);
      metrics.push(
        measured(QPS, 'queries/s', p.qps, {
          variant,
          note: `${input.size.passes} passes of ${Math.min(TIMED, input.split.queries.length)} queries, one thread` +
            (below ? `; recall@10 ${p.recall.toFixed(3)} MISSES the ${FLOOR} floor: this speed does not count` : ''),
        }),
        { name: 'recall@10', value: 100 * p.recall, unit: '%', variant, note: `${key === 'before' ? Math.min(TIMED, input.split.queries.length) : input.split.queries.length} held-out queries, against the exact top 10` },
      );
      if (key === 'before' || key === EXERCISE) points.push({ series: key === 'before' ? 'exact' : 'exercise', x: median(p.qps), y: p.recall, label: variant });
    }

    // The ef sweep: the speed/recall dial of both libraries.
    for (const key of ['hnswlib', 'usearch']) {
      const index = input.indexes[key];
      for (const ef of input.size.efs) {
        index.setEf(ef);
        const p = measurePoint(index, input);
        ctx.log(`${key} ef=${ef}: recall@10 ${p.recall.toFixed(3)}, ${median(p.qps).toFixed(0)} queries/s`);
        points.push({ series: key, x: median(p.qps), y: p.recall, label: `ef=${ef}` });
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
