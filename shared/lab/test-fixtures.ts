/** A small, valid results object for the harness tests. */
import { RESULTS_SCHEMA, type LessonResult, type RunResults } from './results.ts';
import { speedup, summarize } from '../util/stats.ts';
import { compareOnHeadline } from './headline.ts';

export function fixtureLesson(id = 't1/01-demo', slowdown = 1): LessonResult {
  const before = summarize([10, 11, 12, 10.5, 11.5].map((x) => x * slowdown));
  const after = summarize([1, 1.1, 0.9, 1.05, 0.95].map((x) => x * slowdown));
  return {
    id,
    chapter: id.split('/')[0],
    title: 'Demo lesson',
    workload: 'a made-up workload',
    status: 'ok',
    mode: 'quick',
    size: { n: 10 },
    baseline: 'before',
    options: { rounds: 2, time: 10, warmupTime: 5, iterations: 5, memory: false },
    variants: [
      { name: 'before', status: 'ok', stats: before, roundMeans: [11, 11], ratio: speedup(before, before) },
      { name: 'after', status: 'ok', stats: after, roundMeans: [1, 1], ratio: speedup(before, after) },
      { name: 'broken', status: 'failed', error: 'boom' },
    ],
    curves: [
      {
        id: 'c1',
        title: 'Recall against speed',
        xLabel: 'queries/s',
        yLabel: 'recall@10',
        xLog: true,
        points: [
          { series: 'a', x: 100, y: 0.9, label: 'ef=16' },
          { series: 'a', x: 50, y: 0.97, label: 'ef=64' },
          { series: 'b', x: 200, y: 0.8 },
        ],
      },
    ],
    metrics: [{ name: 'throughput', value: 123.4, unit: 'docs/s', variant: 'after', note: 'pipeline' }],
    headline: {
      name: 'time per call',
      unit: 'ms',
      better: 'lower',
      rows: [
        { variant: 'before', value: before.mean, error: before.sem, n: before.samples },
        { variant: 'after', value: after.mean, error: after.sem, n: after.samples, against: 'before', ...compareOnHeadline('lower', { value: before.mean, error: before.sem }, { value: after.mean, error: after.sem }) },
      ],
      featured: ['after'],
    },
    startedAt: '2026-11-25T20:00:00.000Z',
    durationMs: 1000,
  };
}

export function fixtureResults(runId = '2026-11-25T20-00-00Z-abc1234', slowdown = 1): RunResults {
  return {
    schema: RESULTS_SCHEMA,
    runId,
    env: {
      cpu: 'Test CPU',
      cores: 2,
      memory: 8 * 1024 ** 3,
      node: 'v20.20.0',
      v8: '11.3',
      os: 'Linux test x64',
      commit: 'abc1234def',
      dirty: false,
      date: '2026-11-25T20:00:00.000Z',
      command: 'npm run t1 -- --quick',
      mode: 'quick',
    },
    lessons: [
      fixtureLesson('t1/01-demo', slowdown),
      { ...fixtureLesson('t1/02-skip'), status: 'skipped', reason: 'Redis unreachable', variants: [], curves: [], metrics: [] },
    ],
  };
}
