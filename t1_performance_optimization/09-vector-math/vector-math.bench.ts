/**
 * Benchmark for 09-vector-math: one top-10 cosine query against n vectors of 100 dims.
 * Run: npm run t1 -- --only 09-vector-math [--quick]
 */
import { performance } from 'node:perf_hooks';
import { medianMs } from '../../shared/util/timing.ts';
import { defineLesson, type CurvePoint } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { randomVectors } from './data.ts';
import { searchFullSort, searchNoUnroll } from './variants.ts';

const K = 10;
const QUERIES = 32;

interface Size {
  n: number;
  dim: number;
}

interface Input {
  size: Size;
  vectors: number[][];
  queries: number[][];
  naive: before.NaiveIndex;
  matrix: after.MatrixIndex;
  /** With --impl exercise: the learner's module and the index it built. */
  exercise?: { mod: typeof after; index: after.MatrixIndex };
  /** Per-variant query cursor, so every variant walks the same query sequence. */
  cursor: Record<string, number>;
}

function nextQuery(input: Input, variant: string): number[] {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return input.queries[i % QUERIES];
}


export default defineLesson<Size, Input>({
  id: 't1/09-vector-math',
  title: 'Vector math: top-k cosine, number[][] vs one Float32Array',
  workload: `one top-${K} cosine query (rotating over ${QUERIES} seeded gaussian queries) against n seeded gaussian vectors`,
  sizes: { quick: { n: 5_000, dim: 100 }, full: { n: 100_000, dim: 100 } },
  setup: (size, ctx) => {
    ctx.log(`generating ${size.n} × ${size.dim} vectors`);
    const vectors = randomVectors(size.n, size.dim, 42);
    const queries = randomVectors(QUERIES, size.dim, 7);
    const ex = ctx.exercise as typeof after | undefined;
    return {
      size,
      vectors,
      queries,
      naive: before.buildIndex(vectors),
      matrix: after.buildIndex(vectors),
      ...(ex ? { exercise: { mod: ex, index: ex.buildIndex(vectors) } } : {}),
      cursor: {},
    };
  },
  baseline: 'before',
  headline: { name: 'time per top-10 query', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => before.search(input.naive, nextQuery(input, 'before'), K),
    'float32+sort': (input) => searchFullSort(input.matrix, nextQuery(input, 'float32+sort'), K),
    'float32+heap, no unroll': (input) => searchNoUnroll(input.matrix, nextQuery(input, 'float32+heap, no unroll'), K),
    after: (input) => after.search(input.matrix, nextQuery(input, 'after'), K),
  },
  exercise: (input) => input.exercise!.mod.search(input.exercise!.index, nextQuery(input, 'exercise'), K),
  extras: (input, ctx) => {
    const t0 = performance.now();
    const m = after.buildIndex(input.vectors);
    const buildMs = performance.now() - t0;
    // Latency against corpus size: the same query on growing prefixes of the corpus.
    const points: CurvePoint[] = [];
    const max = input.size.n;
    const ns = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000].filter((n) => n <= max);
    if (!ns.includes(max)) ns.push(max);
    const reps = ctx.mode === 'quick' ? 15 : 25;
    for (const n of ns) {
      const vs = input.vectors.slice(0, n);
      const naive = before.buildIndex(vs);
      const matrix = after.buildIndex(vs);
      points.push({ series: 'before', x: n, y: medianMs((i) => before.search(naive, input.queries[i % QUERIES], K), reps, 3) });
      points.push({ series: 'after', x: n, y: medianMs((i) => after.search(matrix, input.queries[i % QUERIES], K), reps, 3) });
    }
    return {
      metrics: [
        { name: 'build time (normalise + copy into Float32Array)', value: buildMs, unit: 'ms', variant: 'after' },
        { name: 'matrix size', value: m.rows.byteLength, unit: 'bytes', variant: 'after', note: 'n × dim × 4 bytes' },
        {
          name: 'payload as number[][]',
          value: input.size.n * input.size.dim * 8,
          unit: 'bytes',
          variant: 'before',
          note: 'n × dim × 8 bytes, plus one array object per row',
        },
      ],
      curves: [
        {
          id: 'latency-vs-n',
          title: 'Query latency against corpus size (median of repeated queries)',
          xLabel: 'vectors in the corpus (n)',
          yLabel: 'ms per query',
          xLog: true,
          points,
        },
      ],
    };
  },
});
