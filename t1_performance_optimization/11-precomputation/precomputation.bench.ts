/**
 * Benchmark for 11-precomputation: TF-IDF search over Brown chunks, everything per query vs. tables precomputed at
 * index time vs. tables plus precomputed results for the popular queries of a Zipf query log.
 * Run: npm run t1 -- --only 11-precomputation [--quick]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { hitRate, loadWorkload, popularQueries, type Workload } from './data.ts';

const K = 10;
/** Log queries per measured iteration (consecutive entries of the test half of the log). */
const PER_ITERATION = 8;

interface Size {
  docs: number;
  /** Distinct queries in the log's universe. */
  distinct: number;
  logLength: number;
  /** Popular queries whose results `after` precomputes. */
  popular: number;
}

interface Input {
  size: Size;
  w: Workload;
  naive: before.TfIdfSearcher;
  tables: after.TfIdfSearcher;
  cached: after.TfIdfSearcher;
  cursor: Record<string, number>;
  precomputeMs: number;
  buildMs: number;
}

function nextQueries(input: Input, variant: string, searcher: { search(q: string, k: number): unknown }): unknown {
  const log = input.w.test;
  let i = input.cursor[variant] ?? 0;
  let last: unknown;
  for (let j = 0; j < PER_ITERATION; j++, i++) last = searcher.search(log[i % log.length], K);
  input.cursor[variant] = i;
  return last;
}

export default defineLesson<Size, Input>({
  id: 't1/11-precomputation',
  title: 'Precomputation: IDF, norms and popular results ahead of time vs. on every query',
  workload:
    `${PER_ITERATION} consecutive queries of a Zipf (s = 1.1) query log of Brown phrases, top-${K} TF-IDF cosine over ` +
    'the ~100-word chunks of the first `docs` Brown documents',
  sizes: {
    quick: { docs: 100, distinct: 2_000, logLength: 20_000, popular: 200 },
    full: { docs: 500, distinct: 10_000, logLength: 100_000, popular: 1_000 },
  },
  setup: async (size, ctx) => {
    const w = await loadWorkload({ docs: size.docs, distinct: size.distinct, logLength: size.logLength });
    ctx.log(`${w.chunks.length} chunks; log: ${w.train.length} train + ${w.test.length} test queries`);
    const naive = before.createSearcher(w.chunks);
    const tables = after.createSearcher(w.chunks);
    let t0 = performance.now();
    tables.search('warm up', K); // the first search builds the tables
    const buildMs = performance.now() - t0;
    const cached = after.createSearcher(w.chunks);
    t0 = performance.now();
    cached.precompute(popularQueries(w.train, size.popular), K);
    const precomputeMs = performance.now() - t0;
    return { size, w, naive, tables, cached, cursor: {}, precomputeMs, buildMs };
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => nextQueries(input, 'before', input.naive),
    'precomputed IDF + norms': (input) => nextQueries(input, 'tables', input.tables),
    after: (input) => nextQueries(input, 'after', input.cached),
  },
  extras: (input, ctx) => {
    const { w, size } = input;
    // Hit rate against the number of precomputed queries (popular set learned on the train half, measured on test).
    const ns = [1, 10, 30, 100, 300, 1_000, 3_000].filter((n) => n < size.distinct).concat(size.distinct);
    const points: CurvePoint[] = ns.map((n) => ({
      series: 'hit rate on the test half of the log',
      x: n,
      y: hitRate(popularQueries(w.train, n), w.test),
      label: `N=${n}`,
    }));
    for (const p of points) ctx.log(`precomputed N=${p.x}: hit rate ${(p.y * 100).toFixed(1)}%`);

    // The real cache on a stretch of the log: hit rate from its own counters, and the mean time per query.
    const stretch = w.test.slice(0, ctx.mode === 'quick' ? 2_000 : 10_000);
    const searcher = after.createSearcher(w.chunks);
    searcher.precompute(popularQueries(w.train, size.popular), K);
    const t0 = performance.now();
    for (const q of stretch) searcher.search(q, K);
    const perQueryUs = ((performance.now() - t0) * 1000) / stretch.length;
    const st = searcher.stats();

    // What one index change costs: the next search rebuilds every table (and misses every popular query once).
    const rebuilds: number[] = [];
    for (let i = 0; i < 3; i++) {
      searcher.add(w.chunks[i]);
      const t1 = performance.now();
      searcher.search(stretch[0], K);
      rebuilds.push(performance.now() - t1);
    }
    const rebuildMs = rebuilds.sort((a, b) => a - b)[1];

    const metrics: Metric[] = [
      { name: 'cache hit rate on the test log', value: st.hits / (st.hits + st.misses), unit: 'fraction', variant: 'after', note: `${size.popular} popular queries precomputed, ${stretch.length} queries` },
      { name: 'mean time per log query', value: perQueryUs, unit: 'µs', variant: 'after', note: 'hits and misses together' },
      { name: 'table build (IDF, weights, norms), once per index version', value: input.buildMs, unit: 'ms', variant: 'after' },
      { name: `precompute ${size.popular} popular results`, value: input.precomputeMs, unit: 'ms', variant: 'after' },
      { name: 'first search after adding one document (rebuild)', value: rebuildMs, unit: 'ms', variant: 'after', note: 'median of 3' },
      { name: 'chunks indexed', value: w.chunks.length, unit: 'docs' },
    ];
    return {
      metrics,
      curves: [
        {
          id: 'hit-rate-vs-precomputed',
          title: 'Share of a Zipf (s = 1.1) query log answered by precomputed results',
          xLabel: 'popular queries precomputed (N)',
          yLabel: 'hit rate',
          xLog: true,
          points,
        },
      ],
    };
  },
});
