/**
 * Benchmark for 11-precomputation: TF-IDF search over Brown chunks, everything per query vs. tables precomputed at
 * index time vs. tables plus precomputed answers for the popular queries of a Zipf query log. One iteration is the
 * next query of the log's test half, so the mean time per call is the mean time per query of that log: the headline.
 * Run: npm run t1 -- --only 11-precomputation [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { loadWorkload, popularQueries, queryKey, type Workload } from './data.ts';

const K = 10;

interface Size {
  docs: number;
  /** Distinct queries in the log's universe. */
  distinct: number;
  logLength: number;
  /** Popular queries whose answers `after` (and the exercise) precompute. */
  popular: number;
}

interface Searcher {
  search(q: string, k: number): unknown;
  stats(): { hits: number; misses: number };
}

interface Input {
  size: Size;
  w: Workload;
  searchers: Record<string, Searcher>;
  cursor: Record<string, number>;
  precomputeMs: number;
  buildMs: number;
}

function nextQuery(input: Input, variant: string): unknown {
  const log = input.w.test;
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return input.searchers[variant].search(log[i % log.length], K);
}

/** Hit rate on `test` of the N most frequent queries of `train`, for each N (popularQueries' order, keys once). */
function hitRateCurve(train: string[], test: string[], ns: number[]): Array<{ n: number; rate: number }> {
  const counts = new Map<string, number>();
  for (const q of train) {
    const key = queryKey(q);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const ranked = [...counts.entries()].map(([key, count], first) => ({ key, count, first }));
  ranked.sort((a, b) => b.count - a.count || a.first - b.first);
  const rank = new Map(ranked.map((r, i) => [r.key, i]));
  const testRanks = test.map((q) => rank.get(queryKey(q)) ?? Infinity);
  return ns.map((n) => ({ n, rate: testRanks.filter((r) => r < n).length / test.length }));
}

export default defineLesson<Size, Input>({
  id: 't1/11-precomputation',
  title: 'Precomputation: IDF, norms and popular results ahead of time vs. on every query',
  workload:
    `one query per iteration, the next of a Zipf (s = 1.1) log of Brown phrases; top-${K} TF-IDF cosine over the ` +
    '~100-word chunks of the first `docs` Brown documents; the popular answers are learned on the first half of the ' +
    'log and measured on the second',
  sizes: {
    quick: { docs: 100, distinct: 2_000, logLength: 20_000, popular: 200 },
    full: { docs: 500, distinct: 10_000, logLength: 100_000, popular: 1_000 },
  },
  setup: async (size, ctx) => {
    const w = await loadWorkload({ docs: size.docs, distinct: size.distinct, logLength: size.logLength });
    ctx.log(`${w.chunks.length} chunks; log: ${w.train.length} train + ${w.test.length} test queries`);
    const popular = popularQueries(w.train, size.popular);
    const tables = after.createSearcher(w.chunks);
    let t0 = performance.now();
    tables.search('warm up', K); // the first search builds the tables
    const buildMs = performance.now() - t0;
    const cached = after.createSearcher(w.chunks);
    t0 = performance.now();
    cached.precompute(popular, K);
    const precomputeMs = performance.now() - t0;
    const searchers: Record<string, Searcher> = { before: before.createSearcher(w.chunks), tables, after: cached };
    const ex = ctx.exercise as typeof after | undefined;
    if (ex) {
      const mine = ex.createSearcher(w.chunks);
      mine.precompute(popular, K);
      searchers[EXERCISE] = mine;
    }
    return { size, w, searchers, cursor: {}, precomputeMs, buildMs };
  },
  baseline: 'before',
  headline: { name: 'mean time per query of the Zipf log', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => nextQuery(input, 'before'),
    'precomputed IDF + norms': (input) => nextQuery(input, 'tables'),
    after: (input) => nextQuery(input, 'after'),
  },
  exercise: (input) => nextQuery(input, EXERCISE),
  extras: (input, ctx) => {
    const { w, size } = input;
    // Hit rate against the number of precomputed queries (popular set learned on the train half, measured on test).
    const ns = [1, 10, 30, 100, 300, 1_000, 3_000].filter((n) => n < size.distinct).concat(size.distinct);
    const points: CurvePoint[] = hitRateCurve(w.train, w.test, ns).map(({ n, rate }) => ({
      series: 'hit rate on the test half of the log',
      x: n,
      y: rate,
      label: `N=${n}`,
    }));
    for (const p of points) ctx.log(`precomputed N=${p.x}: hit rate ${(p.y * 100).toFixed(1)}%`);

    // The caches' own counters over the queries each variant served in the benchmark.
    const metrics: Metric[] = [];
    for (const [variant, key] of [
      ['after', 'after'],
      [EXERCISE, EXERCISE],
    ] as const) {
      const s = input.searchers[key];
      if (!s) continue;
      const st = s.stats();
      const served = st.hits + st.misses;
      if (served > 0) {
        metrics.push({ name: 'answered from precomputed results', value: (100 * st.hits) / served, unit: '%', variant, note: `${size.popular} popular queries precomputed; ${served} queries served` });
      }
    }

    // What one index change costs: the next search rebuilds every table (and misses every popular query once).
    const searcher = after.createSearcher(w.chunks);
    searcher.precompute(popularQueries(w.train, size.popular), K);
    const rebuilds: number[] = [];
    for (let i = 0; i < 3; i++) {
      searcher.add(w.chunks[i]);
      const t1 = performance.now();
      searcher.search(w.test[0], K);
      rebuilds.push(performance.now() - t1);
    }
    const rebuildMs = rebuilds.sort((a, b) => a - b)[1];

    metrics.push(
      { name: 'table build (IDF, weights, norms), once per index version', value: input.buildMs, unit: 'ms', variant: 'after' },
      { name: `precompute ${size.popular} popular answers`, value: input.precomputeMs, unit: 'ms', variant: 'after' },
      { name: 'first search after adding one document (rebuild)', value: rebuildMs, unit: 'ms', variant: 'after', note: 'median of 3' },
      { name: 'chunks indexed', value: w.chunks.length, unit: 'chunks' },
    );
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
